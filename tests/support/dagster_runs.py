"""Helpers for materialisation tests: dg.materialize on a config's definitions, and reading results."""

from pathlib import Path

import dagster as dg

from lamini_assets.demo import QUIET_RUN_CONFIG

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


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    """The metadata values of the run's materialisation of one asset."""
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {name: value.value for name, value in event.materialization.metadata.items()}
