"""Diversity stage: LaMini's figures and tables for the dataset version, inside the Dagster UI."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.metadata import counts_metadata
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.diversity import build_diversity_report, floor_violations, read_inputs, write_report
from lamini_assets.diversity.inputs import latest_report_lexical
from lamini_assets.diversity.report import FIGURE_TITLES, TABLE_TITLES, markdown_table, png_data_uri
from lamini_assets.warehouse import replace_partition


@dg.asset(
    deps=["lamini_dataset", "instruction_rejects", "seed_instructions_dedup"],
    group_name="diversity",
    kinds={"python", "duckdb"},
    description=(
        "LaMini's diversity analysis of the newest dataset version: a t-SNE (or UMAP) of sentence embeddings "
        "by instruction_source, length histograms, rejects by reason, each generated instruction's similarity to "
        "its nearest seed, root verbs and objects, Table 1, MATTR (window 50), distinct-1/2 and near-duplicate "
        "rates. Figures and tables show here; a standalone HTML report is written at "
        "diversity/<dataset_version>/report.html. Embeddings are cached per (instruction_id, model)."
    ),
)
def diversity_report(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    config = pipeline.load()
    store = config.artifact_store()
    with duckdb.get_connection() as conn:
        inputs = read_inputs(conn, store)
    report = build_diversity_report(inputs, config.diversity, store, context.log.info)
    uris = write_report(report, config.diversity, store)
    stamp = {"dataset_version": report.version, "created_at": datetime.now(timezone.utc)}
    with duckdb.get_connection() as conn:
        for name in ("table_one", "lexical"):
            table = report.tables[name].with_columns(*(pl.lit(value).alias(key) for key, value in stamp.items()))
            replace_partition(conn, f"diversity_{name}", table, {"dataset_version": report.version})
    return dg.MaterializeResult(
        metadata={
            "dataset_version": report.version,
            "report": dg.MetadataValue.path(uris["report"]),
            **counts_metadata(report.counts),
            "notes": dg.MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none"),
            **{f"figure/{name}": dg.MetadataValue.md(f"**{FIGURE_TITLES[name]}**\n\n"
                                                    f"![{FIGURE_TITLES[name]}]({png_data_uri(png)})")
               for name, png in report.figures.items()},
            **{f"table/{name}": dg.MetadataValue.md(f"**{TABLE_TITLES[name]}**\n\n{markdown_table(table)}")
               for name, table in report.tables.items()},
        }
    )


def _violations(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> tuple[dict[str, dict[str, float]], str]:
    checks = pipeline.load().diversity.checks
    with duckdb.get_connection() as conn:
        lexical = latest_report_lexical(conn)
    version = lexical["dataset_version"][0] if lexical.height else "none"
    return floor_violations(lexical, checks.min_mattr, checks.max_near_duplicate_rate), version


@dg.asset_check(asset=diversity_report, name="mattr_above_floor",
                description="WARN when a source's instructions or responses have a MATTR below diversity.checks.min_mattr.")
def mattr_above_floor(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    found, version = _violations(pipeline, duckdb)
    return dg.AssetCheckResult(passed=not found["mattr"], severity=dg.AssetCheckSeverity.WARN,
                               metadata={"dataset_version": version, "floor": pipeline.load().diversity.checks.min_mattr,
                                         "below_floor": dg.MetadataValue.json(found["mattr"])})


@dg.asset_check(asset=diversity_report, name="near_duplicate_rate_below_ceiling",
                description="WARN when a source's near-duplicate rate (instructions or responses) is above "
                            "diversity.checks.max_near_duplicate_rate.")
def near_duplicate_rate_below_ceiling(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    found, version = _violations(pipeline, duckdb)
    return dg.AssetCheckResult(
        passed=not found["near_duplicate_rate"], severity=dg.AssetCheckSeverity.WARN,
        metadata={"dataset_version": version, "ceiling": pipeline.load().diversity.checks.max_near_duplicate_rate,
                  "above_ceiling": dg.MetadataValue.json(found["near_duplicate_rate"])})


diversity_checks = [mattr_above_floor, near_duplicate_rate_below_ceiling]
