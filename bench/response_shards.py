"""What Dagster's UI and launcher tolerate with the real response shards, to size them (issue 15 item 4).

    python bench/response_shards.py [--quick]

`responses` is partitioned by lamini_assets.defs.partitions.response_partitions: instruction_source (7,
static) x shard (dynamic, "0000"...). With S shard keys registered there are 7 x S partitions. For each S,
in a fresh throwaway SQLite instance like `dagster dev`'s:
1. definitions: build `instructions` (by source) -> `responses` (the real partitions definition) and list
   the partition keys, as the UI does for the asset page;
2. backfill: plan the UI's backfill of every source's instructions + responses
   (`AssetBackfillData.from_asset_partitions`: Dagster's partition mapping fans each source out to its
   shards), and count the partitions it targets;
3. status: with every partition materialised, recompute the asset's partition status the way the UI's
   asset page does (`get_and_update_asset_status_cache_value`, cold cache), and list materialised keys;
then the fixed cost of one run: in-process `dg.materialize` of one shard (the floor) and a launched run
(`dagster asset materialize --partition alpaca|0000` in a subprocess: what the default run launcher pays
per run of a backfill). Wall and CPU (user+sys) seconds; figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.execution.asset_backfill import AssetBackfillData
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from lamini_assets.defs.partitions import (  # noqa: E402
    RESPONSE_SHARDS,
    instruction_source_partitions,
    response_partition_key,
    response_partitions,
)
from lamini_assets.generation.shards import shard_keys  # noqa: E402
from lamini_assets.schema import INSTRUCTION_SOURCES  # noqa: E402

LARGEST_SOURCE_ROWS = 930_000  # FLAN in LaMini-LM, the largest source
TOTAL_ROWS = 2_580_000  # LaMini-LM's pairs over the seven sources


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall s, CPU s of this process) of one call."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = action()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, time.perf_counter() - started, cpu


@dg.asset(partitions_def=instruction_source_partitions)
def instructions() -> None:
    return None


@dg.asset(partitions_def=response_partitions, deps=[instructions])
def responses() -> None:
    return None


def fresh_instance(folder: Path) -> dg.DagsterInstance:
    folder.mkdir(parents=True)
    (folder / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    return dg.DagsterInstance.from_config(str(folder))


def measure(shards: int, instance: dg.DagsterInstance) -> dict[str, float]:
    instance.add_dynamic_partitions(RESPONSE_SHARDS, shard_keys(shards))

    def definitions() -> list[str]:
        graph = dg.Definitions(assets=[instructions, responses]).resolve_asset_graph()
        return graph.get(responses.key).partitions_def.get_partition_keys(dynamic_partitions_store=instance)

    keys, definitions_s, definitions_cpu = timed(definitions)
    graph = dg.Definitions(assets=[instructions, responses]).resolve_asset_graph()
    backfill, backfill_s, backfill_cpu = timed(lambda: AssetBackfillData.from_asset_partitions(
        asset_graph=graph, partition_names=list(INSTRUCTION_SOURCES), asset_selection=[instructions.key, responses.key],
        dynamic_partitions_store=instance, backfill_start_timestamp=time.time(), all_partitions=False,
    ))
    targeted = backfill.target_subset.get_partitions_subset(responses.key).get_partition_keys()
    assert len(targeted) == len(keys) == 7 * shards
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(responses.key, partition=key))
    value, status_s, status_cpu = timed(lambda: get_and_update_asset_status_cache_value(
        instance, responses.key, graph.get(responses.key).partitions_def, dynamic_partitions_loader=instance))
    assert value is not None
    materialised, list_s, _ = timed(lambda: instance.get_materialized_partitions(responses.key))
    assert len(materialised) == len(keys)
    return {"partitions": len(keys), "definitions_s": definitions_s, "definitions_cpu": definitions_cpu,
            "backfill_s": backfill_s, "backfill_cpu": backfill_cpu, "status_s": status_s, "status_cpu": status_cpu,
            "list_s": list_s}


def in_process_run_seconds(instance: dg.DagsterInstance, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for index in range(runs):
        _, wall, cpu = timed(lambda: dg.materialize(
            [responses], partition_key=response_partition_key(INSTRUCTION_SOURCES[index % 7]), instance=instance,
            raise_on_error=True, selection=[responses.key],
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        ))
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def launched_run_seconds(home: Path) -> tuple[float, float]:
    module = home / "shards_module.py"
    module.write_text(textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        import dagster as dg
        from lamini_assets.defs.partitions import response_partitions
        @dg.asset(partitions_def=response_partitions)
        def responses() -> None:
            return None
    '''))
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-f", str(module),
               "--select", "responses", "--partition", str(response_partition_key("alpaca"))]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(home)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer shard counts")
    args = parser.parse_args()
    counts = [1, 16, 47] if args.quick else [1, 16, 47, 128, 512]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'shards':>6} {'partitions':>10} {'defs+keys s':>11} {'backfill plan s':>15} {'UI status s':>11} "
              f"{'(cpu s)':>7} {'list s':>7} {'largest shard rows':>18}")
        baseline = None
        for shards in counts:
            instance = fresh_instance(Path(tmp) / f"home_{shards}")
            figures = measure(shards, instance)
            baseline = baseline or figures
            print(f"{shards:>6} {figures['partitions']:>10} {figures['definitions_s']:>11.3f} "
                  f"{figures['backfill_s']:>15.3f} {figures['status_s']:>11.3f} {figures['status_cpu']:>7.3f} "
                  f"{figures['list_s']:>7.3f} {-(-LARGEST_SOURCE_ROWS // shards):>18,}"
                  f"   (status x{figures['status_s'] / max(baseline['status_s'], 1e-9):.1f} vs 1 shard)")
        home = Path(tmp) / "home_launch"
        instance = fresh_instance(home)
        instance.add_dynamic_partitions(RESPONSE_SHARDS, shard_keys(1))
        floor_wall, floor_cpu = in_process_run_seconds(instance, 5)
        launched_wall, launched_cpu = launched_run_seconds(home)
        print(f"one run in-process (floor): {floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU; "
              f"one launched run (dagster asset materialize): {launched_wall:.2f} s wall, {launched_cpu:.2f} s CPU")
        for shard_rows in (5_000, 20_000, 50_000):
            largest = -(-LARGEST_SOURCE_ROWS // shard_rows)
            useful = -(-TOTAL_ROWS // shard_rows)  # + at most one partial shard per source
            print(f"  shard_rows {shard_rows:>6,}: {largest} shard keys (FLAN), {7 * largest} partitions, "
                  f"~{useful}-{useful + 7} with rows; launching them ~{(useful + 7) * launched_wall / 60:.0f} min of "
                  f"run starts; a shard at 50 calls/s takes {shard_rows / 50 / 60:.1f} min "
                  f"(launch = {launched_wall / (shard_rows / 50) * 100:.0f}% of it)")


if __name__ == "__main__":
    main()
