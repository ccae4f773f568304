"""`make demo`: materialise the whole asset graph, every partition, into the local Dagster instance.

Runs are recorded in DAGSTER_HOME, so `make ui` shows them. Stages run in dependency order; each
partitioned stage runs once per partition, as a backfill from the UI would.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import dagster as dg
import duckdb
import polars as pl

from lamini_assets.config import PipelineConfig, config_path_from_env, load_config
from lamini_assets.dataset import latest_version
from lamini_assets.defs import build_definitions
from lamini_assets.defs.resources import teacher_progress_logger
from lamini_assets.diversity.inputs import latest_report_version
from lamini_assets.diversity.report import report_key
from lamini_assets.teacher import OFFLINE_DESCRIPTION


# Step-level DEBUG lines go to the run's log in the UI, not to the terminal.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialisation_stages(defs: dg.Definitions) -> list[tuple[list[dg.AssetKey], dg.PartitionsDefinition | None]]:
    """Asset keys in dependency order, grouped into runs that share one partitions definition.

    A multi-asset's keys stay together (Dagster cannot run part of one) at its deepest key's level.
    """
    graph = defs.resolve_asset_graph()
    level_of = {key: depth for depth, level in enumerate(graph.toposorted_asset_keys_by_level) for key in level}
    nodes = sorted(
        (
            (max(level_of[key] for key in assets_def.keys), sorted(assets_def.keys), assets_def.partitions_def)
            for assets_def in defs.assets
            if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_executable
        ),
        key=lambda node: (node[0], node[1]),
    )
    stages: list[tuple[list[dg.AssetKey], dg.PartitionsDefinition | None]] = []
    current_def: object = object()
    for _, keys, partitions_def in nodes:
        if stages and partitions_def == current_def:
            stages[-1][0].extend(keys)
            continue
        current_def = partitions_def
        stages.append((list(keys), partitions_def))
    return stages


def partition_keys(partitions_def: dg.PartitionsDefinition | None, instance: dg.DagsterInstance) -> Sequence[str | None]:
    """Every partition of a stage, read when the stage starts: response shards are registered by the
    `instructions` stage before them."""
    if partitions_def is None:
        return [None]
    return partitions_def.get_partition_keys(dynamic_partitions_store=instance)


def show_teacher_progress() -> None:
    """Teacher steps' progress lines (done/total, rate, ETA) on the terminal, which hides Dagster's INFO."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    teacher_progress_logger.addHandler(handler)
    teacher_progress_logger.setLevel(logging.INFO)
    teacher_progress_logger.propagate = False


def run_demo() -> int:
    show_teacher_progress()
    # lm-eval's and HF's per-batch progress bars (training and evaluation subprocesses inherit this)
    # would bury the demo's own lines; the runs' logs in the UI keep the steps' details.
    os.environ.setdefault("TQDM_DISABLE", "1")
    config_path = config_path_from_env()
    config = load_config(config_path)
    defs = build_definitions(config_path)
    instance = dg.DagsterInstance.get()
    assets = [*defs.assets, *(defs.asset_checks or [])]
    for keys, partitions_def in materialisation_stages(defs):
        for partition_key in partition_keys(partitions_def, instance):
            label = ", ".join(key.to_user_string() for key in keys)
            print(f"materialising {label}" + (f" [{partition_key}]" if partition_key else ""), flush=True)
            result = dg.materialize(
                assets,
                selection=keys,
                partition_key=partition_key,
                instance=instance,
                resources=defs.resources,
                raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
            if not result.success:
                print(f"run {result.run_id} failed; see `make ui` for its logs", file=sys.stderr)
                return 1
    print_summary(config, instance)
    return 0


def print_summary(config: PipelineConfig, instance: dg.DagsterInstance) -> None:
    with duckdb.connect(str(config.duckdb_path), read_only=True) as conn:
        stats = conn.execute("select * from main.seed_stats").pl()
        quarantined = conn.execute("select count(*) from main.seed_quarantine").fetchone()[0]
        by_source = conn.execute(
            """
            select instructions.instruction_source,
                   count(*) as instructions,
                   count(dataset.instruction_id) as in_lamini_dataset
            from main.instructions
            left join main.lamini_dataset as dataset using (instruction_id, instruction_source)
            group by all order by 1
            """
        ).pl()
        rejected = conn.execute("select count(*) from main.instruction_rejects").fetchone()[0]
        failures = conn.execute("select count(*) from main.teacher_failures").fetchone()[0]
        checkpoints = conn.execute(
            "select student, family, round(train_loss, 3) as train_loss, round(validation_loss, 3) as validation_loss, "
            "uri from main.student_checkpoints order by student"
        ).pl() if config.students else None
        report_version = latest_report_version(conn)
    table_format = pl.Config(tbl_width_chars=140, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True)
    with table_format:
        print("\nSeed pools (seed_stats):")
        print(stats)
        print("\nInstructions and the LaMini dataset, by instruction_source:")
        print(by_source)
        if checkpoints is not None:
            print("\nStudents (student_checkpoints; rows that trained each: training_manifest):")
            print(checkpoints)
    total = stats.filter(stats["seed_source"] == "all").row(0, named=True)
    print(f"\n{total['rows']} seed rows loaded, {total['duplicates_removed']} exact duplicates removed, "
          f"{quarantined} rows quarantined; {rejected} generated candidates filtered out "
          f"(instruction_rejects); {failures} teacher calls failed (teacher_failures).")
    teacher = config.teacher
    print(f"Teacher:       {OFFLINE_DESCRIPTION}" if teacher.is_offline
          else f"Teacher:       {teacher.model} at {teacher.base_url or 'api.openai.com'}")
    print(f"DuckDB file:   {config.duckdb_path}")
    version = latest_version(config.artifact_store())
    print(f"Dataset:       version {version} at {config.artifact_store().uri(f'lamini_dataset/{version}')}"
          "  (parquet, HF datasets folder, Alpaca JSON, dataset card)")
    if report_version:
        print(f"Diversity:     {config.artifact_store().uri(report_key(report_version))}  (figures and tables; "
              "also in the UI on diversity_report)")
    print(f"Dagster home:  {instance.root_directory}  (`make ui` shows these runs)")
    store = config.artifact_store()
    if store.exists("leaderboard/leaderboard.md"):  # the evaluation stage's first table: every student beside its base
        print(f"\nLeaderboard ({store.uri('leaderboard/leaderboard.md')}, charts beside it):\n")
        print(store.read_bytes("leaderboard/leaderboard.md").decode("utf-8").split("\n\n### ")[0].split("\n\n", 1)[-1])


if __name__ == "__main__":
    sys.exit(run_demo())
