"""One asset per file of dbt_like_sql/: DuckDB builds the table (or view) from its upstream tables."""

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.config import PipelineConfig
from lamini_assets.defs.automation import FOLLOWS_UPSTREAM
from lamini_assets.defs.metadata import config_metadata, table_metadata
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.warehouse import SqlModel, load_sql_models, run_sql_model

PREVIEW_LIMIT = 20


def sql_parameters(config: PipelineConfig) -> dict[str, Any]:
    """Values the models may bind as $name."""
    return {"source_priority": config.dedup.source_priority}


def _sql_model_asset(model: SqlModel, config: PipelineConfig) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        deps=list(model.deps),
        group_name=model.group,
        description=model.description,
        kinds={"duckdb", "sql"},
        code_version=model.code_version(sql_parameters(config)),
        automation_condition=FOLLOWS_UPSTREAM,
        metadata={"sql": dg.MetadataValue.md(f"```sql\n{model.sql}\n```"), "materialized": model.materialized},
    )
    def sql_asset(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        config = pipeline.load()
        with duckdb.get_connection() as conn:
            row_count = run_sql_model(conn, model, sql_parameters(config))
            head = conn.execute(f"select * from main.{model.name} limit {PREVIEW_LIMIT}").pl()
        metadata = table_metadata(head, model.name)
        metadata["dagster/row_count"] = row_count
        metadata.update(config_metadata(config))
        return dg.MaterializeResult(metadata=metadata)

    return sql_asset


def sql_model_assets(config: PipelineConfig) -> list[dg.AssetsDefinition]:
    """One asset per model; code versions include the values the config binds to its parameters."""
    return [_sql_model_asset(model, config) for model in load_sql_models()]
