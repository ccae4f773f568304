"""The Dagster layer: thin assets, checks and resources over the domain packages."""

from pathlib import Path

import dagster as dg

from lamini_assets.config import config_path_from_env, load_config
from lamini_assets.defs import generation, seeds, sql_models, teacher
from lamini_assets.defs.execution import executor_for
from lamini_assets.defs.resources import build_resources


def build_definitions(config_path: Path | str | None = None) -> dg.Definitions:
    """Definitions for one pipeline config (LAMINI_CONFIG, or configs/demo.yaml)."""
    path = Path(config_path) if config_path is not None else config_path_from_env()
    config = load_config(path)
    return dg.Definitions(
        assets=[
            seeds.seed_instructions,
            *sql_models.sql_model_assets,
            generation.wikipedia_topics,
            generation.instructions,
            teacher.responses,
            teacher.lamini_dataset,
        ],
        asset_checks=[
            *seeds.seed_instruction_checks,
            seeds.seed_dedup_ids_unique,
            *generation.instruction_checks,
            *teacher.response_checks,
        ],
        resources=build_resources(config, str(path.resolve())),
        executor=executor_for(config.execution),
    )
