"""Every resource the assets use, built from the one pipeline config file."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.config import PipelineConfig, load_config


class PipelineConfigResource(dg.ConfigurableResource):
    """The validated pipeline config file (LAMINI_CONFIG; configs/demo.yaml by default)."""

    config_path: str

    def load(self) -> PipelineConfig:
        return load_config(self.config_path)


def build_resources(config: PipelineConfig, config_path: str) -> dict[str, object]:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return {
        "pipeline": PipelineConfigResource(config_path=config_path),
        "duckdb": DuckDBResource(database=str(config.duckdb_path)),
    }
