"""Response shards: what Dagster tolerates (issue 15 item 4), and one warm shard at LaMini's size (issue 14).

    python bench/response_shards.py [--quick]
    python bench/response_shards.py --warm [--rows 1200000] [--shard-rows 1000000] [--baseline-ref main]
    python bench/response_shards.py --warm --full-db STATE/lamini.duckdb --full-cache CACHE_COPY [--repeat 2]

`--warm`: one `responses` shard rematerialised from a WARM teacher cache, as run 2 of bench/full_size.py
does, by this tree and by a baseline tree (`git archive` of --baseline-ref) in the same run. The work folder
(.lamini/bench_warm_responses) keeps an `instructions` table of --rows LaMini-shaped original_flan rows and
a teacher cache filled once by the offline teacher (two entries per call: answer and request), so later
runs only time. Each measurement is its own process (`dg.materialize` of responses + teacher_failures and
the shard's checks, partition original_flan|0000): Dagster's step seconds, CPU s (user+sys of the
process, DuckDB's threads included) and wall s around the materialisation, rows per CPU second and the
process's peak RSS (imports included). Both trees must give the shard the same data version.

Default mode:

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
import json
import os
import resource
import shutil
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
    parser.add_argument("--warm", action="store_true", help="time one warm responses shard (see the docstring)")
    parser.add_argument("--rows", type=int, default=1_200_000, help="--warm: original_flan instructions")
    parser.add_argument("--shard-rows", type=int, default=1_000_000, help="--warm: responses.shard_rows")
    parser.add_argument("--baseline-ref", default="main", help="--warm: git ref measured beside this tree ('' to skip)")
    parser.add_argument("--repeat", type=int, default=1, help="--warm: measurements per tree (the median is shown)")
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / ".lamini" / "bench_warm_responses")
    parser.add_argument("--full-db", type=Path, help="--warm: a full-size lamini.duckdb (bench/full_size.py's run "
                        "2 state; copied, never opened) whose instructions are answered from --full-cache")
    parser.add_argument("--full-cache", type=Path, help="--warm: the warm teacher cache of --full-db (a copy: "
                        "opening it writes its settings)")
    parser.add_argument("--sources", default="original_p3,original_flan", help="--full-db: sources to time, all shards")
    args = parser.parse_args()
    if args.warm and args.full_db:
        full_size_bench(args.work, args.full_db, args.full_cache, args.sources.split(","), args.shard_rows,
                        args.baseline_ref, args.repeat)
        return
    if args.warm:
        warm_shard_bench(args.work, args.rows, args.shard_rows, args.baseline_ref, args.repeat)
        return
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


# --- one warm shard at full size (--warm) ---------------------------------------------------------

WARM_SOURCE = "original_flan"

# Run by `python -c` in each measured process, with the measured tree first on sys.path (not this file,
# which would import this tree's lamini_assets).
_STEP_SCRIPT = textwrap.dedent('''
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    import dagster as dg
    from lamini_assets.defs import build_definitions
    from lamini_assets.defs.partitions import RESPONSE_SHARDS, response_partition_key
    from lamini_assets.generation.shards import shard_keys
    defs = build_definitions(sys.argv[2])
    instance = dg.DagsterInstance.ephemeral()
    shards = int(sys.argv[4])
    instance.add_dynamic_partitions(RESPONSE_SHARDS, shard_keys(shards))
    report = {"steps": {}, "versions": {}, "rows": {}}
    for shard in (range(shards) if sys.argv[5] == "all" else [int(sys.argv[5])]):
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks], selection=["responses", "teacher_failures"],
            partition_key=response_partition_key(sys.argv[3], shard_keys(shards)[shard]), resources=defs.resources,
            instance=instance, raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        after = resource.getrusage(resource.RUSAGE_SELF)
        report["wall"] = report.get("wall", 0.0) + time.perf_counter() - started
        report["cpu"] = report.get("cpu", 0.0) + after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        begun = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                begun[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                seconds = entry.timestamp - begun[event.step_key]
                report["steps"][event.step_key] = report["steps"].get(event.step_key, 0.0) + seconds
        for event in result.get_asset_materialization_events():
            if event.asset_key.to_user_string() == "responses":
                report["versions"][shard] = event.materialization.tags.get("dagster/data_version")
                report["rows"][shard] = event.materialization.metadata["dagster/row_count"].value
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        assert not failed, f"failed checks: {failed}"
    report["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print("REPORT " + json.dumps(report))
''')


def _warm_instructions(rows: int) -> "pl.DataFrame":
    """`rows` original_flan instructions with LaMini's FLAN lengths (lamini_assets/dataset/synthetic.py)."""
    import duckdb
    import polars as pl

    from lamini_assets.dataset.synthetic import _GENERATE, LAMINI_SOURCE_WORDS
    from lamini_assets.schema import INSTRUCTION_SCHEMA

    words = LAMINI_SOURCE_WORDS[WARM_SOURCE]
    with duckdb.connect() as conn:
        base = conn.execute(_GENERATE, {"sources": [WARM_SOURCE], "counts": [rows], "instruction_words": [words[0]],
                                        "response_words": [words[1]], "seed": 14}).pl()
    return base.select(
        pl.col("h").cast(pl.String).str.zfill(20).str.slice(4, 16).alias("instruction_id"),
        pl.lit(WARM_SOURCE).alias("instruction_source"),
        pl.col("task_instruction").alias("instruction"), pl.col("task_input").alias("input"),
        pl.concat_str(pl.lit("template_"), (pl.col("h") % 50).cast(pl.String)).alias("template"),
        pl.concat_str(pl.lit("flan/part_0.jsonl:"), pl.col("n").cast(pl.String)).alias("origin"),
        pl.lit([], dtype=pl.List(pl.String())).alias("example_ids"),
        pl.lit([], dtype=pl.List(pl.String())).alias("topics"),
        pl.lit(None, dtype=pl.String()).alias("generation_cache_key"),
        pl.lit(None, dtype=pl.String()).alias("generation_template_version"),
    ).unique("instruction_id", keep="first", maintain_order=True).cast(INSTRUCTION_SCHEMA)  # type: ignore[arg-type]


def _baseline_tree(work: Path, ref: str) -> Path:
    commit = subprocess.run(["git", "rev-parse", ref], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    tree = work / f"tree-{commit[:12]}"
    if not tree.is_dir():
        staging = work / f".tree-{commit[:12]}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(staging)], input=archive, check=True)
        staging.rename(tree)
    return tree


def _measure_step(tree: Path, config: Path, shards: int, shard: str, source: str = WARM_SOURCE) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "LAMINI_CONFIG": str(config)}
    env.pop("LAMINI_STATE_DIR", None)  # it would override the config's storage.state_dir
    done = subprocess.run([sys.executable, "-c", _STEP_SCRIPT, str(tree), str(config), source, str(shards), shard],
                          capture_output=True, text=True, cwd=tree, env=env)
    line = next((line for line in done.stdout.splitlines() if line.startswith("REPORT ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"{tree}: {done.stderr[-3000:]}")
    return json.loads(line[len("REPORT "):])


def warm_shard_bench(work: Path, rows: int, shard_rows: int, baseline_ref: str, repeat: int) -> None:
    import yaml

    from lamini_assets.generation.shards import shard_count
    from lamini_assets.warehouse import replace_table

    work.mkdir(parents=True, exist_ok=True)
    state = work / f"state-{rows}"
    cache = work / f"teacher_cache-{rows}"
    config = work / f"config-{rows}-{shard_rows}.yaml"
    config.write_text(yaml.safe_dump({
        "sources": [], "teacher": {"backend": "offline", "cache_dir": str(cache)},
        "responses": {"shard_rows": shard_rows}, "storage": {"state_dir": str(state)},
    }), encoding="utf-8")
    shards = shard_count(rows, shard_rows)
    ready = state / f"ready-{shard_rows}"
    if not ready.exists():
        import duckdb

        started = time.perf_counter()
        state.mkdir(parents=True, exist_ok=True)
        instructions = _warm_instructions(rows)
        with duckdb.connect(str(state / "lamini.duckdb")) as conn:
            replace_table(conn, "instructions", instructions)
            conn.execute("drop table if exists responses")
            conn.execute("drop table if exists teacher_failures")
        print(f"filling the teacher cache and the responses table: {instructions.height:,} instructions, "
              f"{shards} shard(s) ...", flush=True)
        _measure_step(PROJECT_ROOT, config, shards, "all")
        ready.touch()
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    trees = [("this tree", PROJECT_ROOT)]
    if baseline_ref:
        trees.insert(0, (f"baseline {baseline_ref}", _baseline_tree(work, baseline_ref)))
    cache_mb = sum(path.stat().st_size for path in cache.iterdir()) / 1e6
    print(f"warm shard original_flan|0000 of {shards}: {rows:,} instructions in the source, "
          f"teacher cache {cache_mb:,.0f} MB")
    reports: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    for _ in range(repeat):
        for name, tree in trees:  # alternated, so load on the machine hits both alike
            reports[name].append(_measure_step(tree, config, shards, "0"))
    print(f"{'':<22} {'step s':>7} {'(resp.':>7} {'checks)':>7} {'wall s':>7} {'CPU s':>7} {'rows/CPU-s':>10} "
          f"{'peak GB':>7}  data version")
    medians = _medians(reports)
    for name, run in medians.items():
        shard_rows_done = run["rows"]["0"]
        steps = run["steps"]
        responses_s = sum(value for key, value in steps.items() if "check" not in key)
        checks_s = sum(value for key, value in steps.items() if "check" in key)
        print(f"{name:<22} {responses_s + checks_s:>7.2f} {responses_s:>7.2f} {checks_s:>7.2f} {run['wall']:>7.2f} "
              f"{run['cpu']:>7.2f} {shard_rows_done / run['cpu']:>10,.0f} {run['peak_gb']:>7.2f}  {run['versions']['0']}"
              f"   ({shard_rows_done:,} rows)")
    if baseline_ref:
        base, new = medians[trees[0][0]], medians["this tree"]
        print(f"this tree vs baseline: CPU x{base['cpu'] / new['cpu']:.2f} less, wall x{base['wall'] / new['wall']:.2f} "
              f"less, peak {new['peak_gb'] - base['peak_gb']:+.2f} GB")
        if base["versions"] != new["versions"]:
            raise SystemExit(f"DATA VERSIONS DIFFER: baseline {base['versions']} vs this tree {new['versions']}")


def _medians(reports: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per tree, its run of median CPU seconds."""
    return {name: sorted(runs, key=lambda r: r["cpu"])[len(runs) // 2] for name, runs in reports.items()}


def full_size_bench(work: Path, full_db: Path, full_cache: Path, sources: list[str], shard_rows: int,
                    baseline_ref: str, repeat: int) -> None:
    """Every shard of each source answered from the full-size warm cache, as run 2 of bench/full_size.py
    does: each measurement starts from a copy of `full_db` with the source's responses (and response
    failures) deleted, so the shards are written afresh into an existing table, by the baseline tree and
    this tree alternately. Prints per tree the summed Dagster step seconds, wall and CPU s of the
    materialisations, rows per CPU second, peak RSS and each shard's data version (which must agree)."""
    import duckdb
    import yaml

    from lamini_assets.generation.shards import shard_count

    if full_cache is None:
        raise SystemExit("--full-db needs --full-cache")
    work.mkdir(parents=True, exist_ok=True)
    trees = [("this tree", PROJECT_ROOT)]
    if baseline_ref:
        trees.insert(0, (f"baseline {baseline_ref}", _baseline_tree(work, baseline_ref)))
    template = work / "full-template.duckdb"
    if not template.exists():
        shutil.copyfile(full_db, work / "full-template.tmp")
        (work / "full-template.tmp").rename(template)
    state = work / "state-full"
    config = work / f"config-full-{shard_rows}.yaml"
    config.write_text(yaml.safe_dump({
        "sources": [], "teacher": {"backend": "offline", "cache_dir": str(full_cache)},
        "responses": {"shard_rows": shard_rows}, "storage": {"state_dir": str(state)},
    }), encoding="utf-8")
    cache_mb = sum(path.stat().st_size for path in full_cache.iterdir()) / 1e6
    print(f"full size, warm teacher cache {cache_mb:,.0f} MB, responses.shard_rows {shard_rows:,}; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'source':<14} {'tree':<22} {'shards':>6} {'step s':>7} {'wall s':>7} {'CPU s':>7} {'rows/CPU-s':>10} "
          f"{'peak GB':>7}  data versions")
    for source in sources:
        with duckdb.connect(str(template), read_only=True) as conn:
            rows = conn.execute("select count(*) from instructions where instruction_source = ?", [source]).fetchone()[0]
        shards = shard_count(rows, shard_rows)
        reports: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
        for _ in range(repeat):
            for name, tree in trees:  # alternated, so load on the machine hits both alike
                shutil.rmtree(state, ignore_errors=True)
                state.mkdir(parents=True)
                shutil.copyfile(template, state / "lamini.duckdb")
                with duckdb.connect(str(state / "lamini.duckdb")) as conn:
                    conn.execute("delete from responses where instruction_source = ?", [source])
                    conn.execute("delete from teacher_failures where instruction_source = ? and asset = 'responses'",
                                 [source])
                    conn.execute("checkpoint")
                reports[name].append(_measure_step(tree, config, shards, "all", source))
        medians = _medians(reports)
        for name, run in medians.items():
            done = sum(run["rows"].values())
            print(f"{source:<14} {name:<22} {shards:>6} {sum(run['steps'].values()):>7.2f} {run['wall']:>7.2f} "
                  f"{run['cpu']:>7.2f} {done / run['cpu']:>10,.0f} {run['peak_gb']:>7.2f}  "
                  f"{','.join(run['versions'].values())}   ({done:,} rows)")
        if baseline_ref:
            base, new = medians[trees[0][0]], medians["this tree"]
            print(f"{source:<14} this tree vs baseline: step s x{sum(base['steps'].values()) / sum(new['steps'].values()):.2f} "
                  f"less, CPU x{base['cpu'] / new['cpu']:.2f} less, wall x{base['wall'] / new['wall']:.2f} less, "
                  f"peak {new['peak_gb'] - base['peak_gb']:+.2f} GB", flush=True)
            if base["versions"] != new["versions"] or base["rows"] != new["rows"]:
                raise SystemExit(f"DATA VERSIONS DIFFER: baseline {base['versions']} vs this tree {new['versions']}")
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
