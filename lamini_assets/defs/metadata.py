"""Asset metadata the UI shows for a table: row count, column schema and a preview of rows; the
pipeline config's hash; and the code versions built from what changes an asset's output."""

import hashlib
import json
from typing import Any

import dagster as dg
import polars as pl

from lamini_assets.config import PipelineConfig
from lamini_assets.teacher import Teacher, TeacherStats

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 80


def table_metadata(frame: pl.DataFrame, table: str) -> dict[str, Any]:
    """`dagster/row_count`, `dagster/column_schema`, the DuckDB table name and a markdown preview."""
    preview = frame.head(PREVIEW_ROWS).with_columns(
        pl.col(pl.String).str.slice(0, PREVIEW_CELL_CHARS).str.replace_all(r"[\n|]", " ")
    )
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "dagster/table_name": f"main.{table}",
        "preview": dg.MetadataValue.md(preview.to_pandas().to_markdown(index=False) if frame.height else "(no rows)"),
    }


def counts_metadata(counts: dict[str, int | float], prefix: str = "") -> dict[str, Any]:
    """Counts as metadata entries, e.g. `total`, `kept`, `dropped_too_short`."""
    return {f"{prefix}{name}": value for name, value in counts.items()}


def teacher_metadata(teacher: Teacher, stats: TeacherStats | None) -> dict[str, Any]:
    """Where the answers came from (the offline stand-in says so) and the run's calls, hits and cost."""
    described = {f"teacher/{name}": value for name, value in teacher.describe().items() if value}
    counted = {f"teacher/{name}": value for name, value in stats.as_metadata().items()} if stats else {}
    return {**described, **counted}


def config_hash(config: PipelineConfig) -> str:
    """16 hex of sha256 of the validated config (every section, defaults filled in)."""
    return hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()[:16]


def config_metadata(config: PipelineConfig) -> dict[str, Any]:
    """`config_hash`: in every materialisation's metadata, so a run says which config produced it."""
    return {"config_hash": config_hash(config)}


def code_version(*parts: object) -> str:
    """12 hex of sha256 of the parts as canonical JSON: template versions, settings, SQL text..."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
