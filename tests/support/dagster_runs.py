"""Helpers for materialisation tests: dg.materialize on a config's definitions, and reading results."""

from pathlib import Path

from collections.abc import Sequence

import dagster as dg

from lamini_assets.defs.partitions import response_partition_key
from lamini_assets.demo import QUIET_RUN_CONFIG
from lamini_assets.generation.shards import shard_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
from tests.support.paths import SHARED_DATA
TOPICS_SAMPLE = PROJECT_ROOT / "data" / "sample" / "wikipedia" / "category_sample.sql.gz"
SEED_SQL_AND_TOPICS = ["seed_copy_ranks", "seed_instructions_dedup", "seed_duplicates", "seed_stats", "wikipedia_topics"]


def materialize(
    defs: dg.Definitions, selection: list[str], partition_key: str | None = None, **kwargs: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        partition_key=partition_key,
        resources=defs.resources,
        run_config=QUIET_RUN_CONFIG,
        **kwargs,
    )


INSTRUCTION_ASSETS = ["instructions", "instruction_rejects"]
RESPONSE_ASSETS = ["responses", "teacher_failures"]


def source_shard_count(instance: dg.DagsterInstance, label: str) -> int:
    """The source's response shard count, as its latest `instructions` materialisation registered it."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("instructions"), asset_partitions=[label]), limit=1
    ).records
    assert records and records[0].asset_materialization is not None, f"instructions[{label}] never materialised"
    return int(records[0].asset_materialization.metadata["response_shards"].value)  # type: ignore[arg-type]


def materialize_responses(
    defs: dg.Definitions, label: str, instance: dg.DagsterInstance, selection: Sequence[str] = RESPONSE_ASSETS,
    **kwargs: object,
) -> list[dg.ExecuteInProcessResult]:
    """One run per response shard of the source (as a backfill of its shards would launch them)."""
    return [
        materialize(defs, list(selection), response_partition_key(label, shard_key(index)), instance=instance, **kwargs)
        for index in range(source_shard_count(instance, label))
    ]


def materialize_source(
    defs: dg.Definitions, label: str, instance: dg.DagsterInstance | None = None, **kwargs: object
) -> list[dg.ExecuteInProcessResult]:
    """instructions (and rejects) of a source, then every response shard of it: the results, in order.
    Without `instance`, one ephemeral instance for both (the shard keys live in the instance)."""
    instance = instance or dg.DagsterInstance.ephemeral()
    first = materialize(defs, INSTRUCTION_ASSETS, label, instance=instance, **kwargs)
    if not first.success:
        return [first]
    return [first, *materialize_responses(defs, label, instance, **kwargs)]


def materialization_metadata(
    result: dg.ExecuteInProcessResult | Sequence[dg.ExecuteInProcessResult], asset: str
) -> dict[str, object]:
    """The metadata values of the run's (or runs': exactly one) materialisation of one asset."""
    results = [result] if isinstance(result, dg.ExecuteInProcessResult) else list(result)
    (event,) = [e for r in results for e in r.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {name: value.value for name, value in event.materialization.metadata.items()}
