"""What Dagster's UI and launcher tolerate, to size response shards (issue 15 item 4).

    python bench/response_shards.py [--quick]

A response shard would be a second partition dimension (instruction_source x shard). For S shards per
source (7 sources), in a throwaway SQLite instance like `dagster dev`'s:
1. definitions: build the asset graph with a (source x shard) MultiPartitionsDefinition and list its keys;
2. status: with every partition materialised, recompute the asset's partition status the way the UI's
   asset page does (`get_and_update_asset_status_cache_value`, cold cache) and list materialised keys;
3. launch: the fixed cost of one run (in-process `dg.materialize` of one no-op partition, the floor)
   and of one launched run (`dagster asset materialize` in a subprocess: what the default run launcher
   pays per run of a backfill).
Figures depend on the machine's load; they are indicative on a shared 2-core host.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

SOURCES = ["alpaca", "flan", "generated_alpaca", "generated_flan", "generated_p3", "original_p3", "self_instruct"]
RESPONSE_ROWS = 930_000  # the largest source (FLAN) in LaMini-LM


def partitions(shards: int) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        "source": dg.StaticPartitionsDefinition(SOURCES),
        "shard": dg.StaticPartitionsDefinition([f"{index:04d}" for index in range(shards)]),
    })


def asset_for(shards: int) -> dg.AssetsDefinition:
    @dg.asset(name="responses_sharded", partitions_def=partitions(shards))
    def responses_sharded() -> None:
        return None

    return responses_sharded


def measure(shards: int, instance: dg.DagsterInstance) -> dict[str, float]:
    started = time.perf_counter()
    asset = asset_for(shards)
    graph = dg.Definitions(assets=[asset]).resolve_asset_graph()
    keys = graph.get(asset.key).partitions_def.get_partition_keys()
    definitions_seconds = time.perf_counter() - started
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset.key, partition=key))
    started = time.perf_counter()
    value = get_and_update_asset_status_cache_value(instance, asset.key, graph.get(asset.key).partitions_def)
    status_seconds = time.perf_counter() - started
    assert value is not None
    started = time.perf_counter()
    materialised = instance.get_materialized_partitions(asset.key)
    list_seconds = time.perf_counter() - started
    assert len(materialised) == len(keys)
    return {"partitions": len(keys), "definitions_s": definitions_seconds, "status_s": status_seconds, "list_s": list_seconds}


def in_process_run_seconds(instance: dg.DagsterInstance, runs: int) -> float:
    asset = asset_for(4)
    times = []
    for index in range(runs):
        started = time.perf_counter()
        dg.materialize([asset], partition_key=dg.MultiPartitionKey({"source": "alpaca", "shard": f"{index % 4:04d}"}),
                       instance=instance, raise_on_error=True,
                       run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def launched_run_seconds(home: Path) -> float:
    module = home / "shards_module.py"
    module.write_text(textwrap.dedent('''
        import dagster as dg
        parts = dg.MultiPartitionsDefinition({"source": dg.StaticPartitionsDefinition(["alpaca"]),
                                              "shard": dg.StaticPartitionsDefinition(["0000"])})
        @dg.asset(partitions_def=parts)
        def responses_sharded() -> None:
            return None
    '''))
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-f", str(module),
               "--select", "responses_sharded", "--partition", "0000|alpaca"]  # dimensions in name order
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(home)})
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer shard counts")
    args = parser.parse_args()
    counts = [1, 16, 128] if args.quick else [1, 16, 128, 512]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
        instance = dg.DagsterInstance.from_config(str(home))
        print(f"{'shards/source':>13} {'partitions':>10} {'definitions s':>13} {'UI status s':>11} {'list s':>7} "
              f"{'rows/shard (930k)':>17}")
        baseline = None
        for shards in counts:
            figures = measure(shards, instance)
            baseline = baseline or figures
            print(f"{shards:>13} {figures['partitions']:>10} {figures['definitions_s']:>13.3f} {figures['status_s']:>11.3f} "
                  f"{figures['list_s']:>7.3f} {RESPONSE_ROWS // shards:>17,}"
                  f"   (status x{figures['status_s'] / max(baseline['status_s'], 1e-9):.0f} vs 1 shard)")
        run_floor = in_process_run_seconds(instance, 5)
        launched = launched_run_seconds(home)
        print(f"one run in-process (floor): {run_floor:.2f} s; one launched run (dagster asset materialize): {launched:.2f} s")
        for shards in counts:
            print(f"  {shards:>5} shards/source: a 7-source backfill = {7 * shards} runs -> launch overhead "
                  f"~{7 * shards * launched / 60:.1f} min of run-process time")


if __name__ == "__main__":
    main()
