"""`lamini-audit` at LaMini scale: every command cold (a new process) and warm, seconds and peak RSS.

    .lamini/venv/bin/python bench/audit.py [--rows 2580000] [--students 10] [--keep /tmp/audit_bench]

Builds, in a fresh DuckDB file (or reuses the one in --keep), the contract tables the audit reads:
a synthetic `lamini_dataset` of --rows rows over the seven sources (sorted by instruction_source,
instruction_id as the dataset stage writes it; instruction ids from the project's make_instruction_id),
its seeds, two dataset versions, --students students whose manifests hold every row of their version
(students 0-4 on version 1, the rest on version 2; splits ~98/1/1) and their checkpoints and scores.
Then it builds the lineage index as lineage_report does and times each command. Targets: < 1 s warm,
< 2 s cold. Figures are printed with their ratio to the target. With --baseline it also times the same
questions asked of the raw tables without the index (warm, best of 2), and prints index/raw ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from lamini_assets.artifacts import LocalArtifactStore  # noqa: E402
from lamini_assets.lineage import build_lineage_index  # noqa: E402
from lamini_assets.lineage.cli import _answer, build_parser  # noqa: E402
from lamini_assets.lineage.audit import Audit, AuditSources  # noqa: E402
from lamini_assets.schema import INSTRUCTION_SOURCES, make_instruction_id  # noqa: E402

WARM_TARGET, COLD_TARGET = 1.0, 2.0
VERSIONS = ("1111111111111111", "2222222222222222")

SYNTHETIC_DATASET = """
create or replace table bench_texts as
select range as i,
       ($sources)[1 + (range % 7)::bigint] as instruction_source,
       'Write about w' || (hash(range) % 5000)::varchar || ' and w' || (hash(range * 7) % 5000)::varchar
         || ' for case ' || range::varchar || ' of the benchmark, in one short paragraph with plain words' as task
from range($rows)
"""


def build_tables(conn: duckdb.DuckDBPyConnection, rows: int, students: int, state: Path) -> None:
    started = time.perf_counter()
    conn.execute(SYNTHETIC_DATASET, {"rows": rows, "sources": list(INSTRUCTION_SOURCES)})
    texts = conn.execute("select i, instruction_source, task from bench_texts").pl()
    ids = texts.with_columns(pl.col("task").map_elements(make_instruction_id, return_dtype=pl.String).alias("instruction_id"))
    ids_arrow = ids.to_arrow()  # noqa: F841
    conn.execute("""
        create or replace table lamini_dataset as
        select substr(md5(instruction_source || instruction_id || 'response'), 1, 16) as row_id,
               task as instruction, 'An answer to case ' || i::varchar || ' in a few words.' as response,
               instruction_source, instruction_id, task as task_instruction, '' as task_input,
               case when instruction_source like 'original%' or instruction_source = 'alpaca'
                    then 'seeds.jsonl:' || i::varchar else 'generation:call-' || (i // 10)::varchar end as origin,
               'template_' || (i % 50)::varchar as template,
               case when instruction_source like 'original%' or instruction_source = 'alpaca' then []::varchar[]
                    else [substr(md5('seed' || (i % 500000)::varchar), 1, 16),
                          substr(md5('seed' || ((i + 1) % 500000)::varchar), 1, 16),
                          substr(md5('seed' || ((i + 2) % 500000)::varchar), 1, 16)] end as example_ids,
               case when instruction_source = 'self_instruct_with_topic' then ['Physics', 'Rivers', 'Jazz'] else []::varchar[] end as topics,
               case when instruction_source like 'original%' or instruction_source = 'alpaca' then null
                    else md5('call' || (i // 10)::varchar) || md5('call') end as generation_cache_key,
               md5('response' || i::varchar) || md5('r') as cache_key,
               case when i % 100 = 0 then 'gpt-4o-mini' else 'gpt-3.5-turbo' end as teacher_model,
               'stop' as finish_reason, 'response-v1' as response_template_version, i as bench_i
        from ids_arrow order by instruction_source, instruction_id
    """)
    conn.execute("""
        create or replace table seed_instructions as
        select substr(md5('seed' || range::varchar), 1, 16) as instruction_id, 'alpaca' as seed_source,
               'alpaca_data' as source_name, 'Seed task ' || range::varchar as instruction, '' as input,
               'seed output' as output, 'template_' || (range % 50)::varchar as template,
               'alpaca_data.json:' || range::varchar as origin
        from range(500000)
    """)
    # Version 1 lacks every 20th row, version 2 every 50th: their students' manifests differ by ~7%.
    membership = {VERSIONS[0]: "bench_i % 20 != 19", VERSIONS[1]: "bench_i % 50 != 7"}
    conn.execute("""create or replace table training_manifest (student varchar, checkpoint_id varchar,
        dataset_version varchar, row_id varchar, instruction_id varchar, instruction_source varchar, split varchar)""")
    checkpoints = []
    for number in range(students):
        version = VERSIONS[0] if number < students // 2 else VERSIONS[1]
        student, checkpoint = f"student_{number}", f"{number:016x}"
        conn.execute(
            f"""insert into training_manifest
                select ?, ?, ?, row_id, instruction_id, instruction_source,
                       case hash(row_id || ?) % 100 when 0 then 'validation' when 1 then 'test' else 'train' end
                from lamini_dataset where {membership[version]}""",
            [student, checkpoint, version, student],
        )
        checkpoints.append({"student": student, "checkpoint_id": checkpoint, "family": "decoder-only",
                            "base": "from_config", "dataset_version": version,
                            "uri": str(state / "artifacts" / "checkpoints" / student / checkpoint), "base_uri": None,
                            "created_at": f"2026-11-27 0{number % 10}:00:00", "run_id": f"run-{number}",
                            "config_hash": "c0ffee", "code_version": "v1",
                            "hyperparameters": json.dumps({"learning_rate": 2e-5, "epochs": 5}),
                            "train_loss": 1.0, "validation_loss": 1.2})
    frame = pl.DataFrame(checkpoints).with_columns(pl.col("created_at").str.to_datetime())  # noqa: F841
    conn.execute("create or replace table student_checkpoints as select * from frame")
    conn.execute("""create or replace table eval_scores as
        select student, checkpoint_id, kind as model_kind, task, 'acc' as metric, 0.5 as value, 200 as n_items,
               dataset_version, created_at, run_id
        from student_checkpoints, (values ('distilled'), ('base')) k(kind),
             (values ('sciq'), ('piqa'), ('arc_challenge')) t(task)""")
    store = LocalArtifactStore(state / "artifacts")
    for version, where in membership.items():
        per_source = dict(conn.execute(
            f"select instruction_source, count(*) from lamini_dataset where {where} group by all").fetchall())
        conn.execute("create table if not exists dataset_versions (version varchar, run_id varchar, created_at timestamp, "
                     "rows_per_source varchar, config_hash varchar, code_version varchar, uri varchar)")
        conn.execute("insert into dataset_versions values (?, ?, now(), ?, 'c0ffee', 'v1', ?)",
                     [version, f"run-{version[:4]}", json.dumps(per_source), store.uri(f"lamini_dataset/{version}")])
        store.write_bytes(f"lamini_dataset/{version}/dataset_card.md",
                          f"# LaMini-instruction {version}\n\n{sum(per_source.values()):,} rows\n".encode())
    conn.execute("drop table bench_texts")
    conn.execute("checkpoint")
    print(f"built the contract tables: {rows:,} dataset rows, {students} manifests "
          f"({conn.execute('select count(*) from training_manifest').fetchone()[0]:,} rows) "
          f"in {time.perf_counter() - started:.0f} s (not timed below)", flush=True)


def commands(conn: duckdb.DuckDBPyConnection, students: int) -> dict[str, list[str]]:
    row_id, instruction_id, text = conn.execute(
        "select row_id, instruction_id, instruction from lamini_dataset where bench_i = 1234567 % (select count(*) from lamini_dataset)"
    ).fetchone()
    return {
        "models": ["models"],
        "model <student>": ["model", "student_3"],
        "instruction <row_id>": ["instruction", row_id],
        "instruction <instruction_id>": ["instruction", instruction_id],
        "instruction <text>": ["instruction", text],
        "source <label>": ["source", "generated_p3"],
        "diff <a> <b>": ["diff", "student_3", f"student_{students - 1}"],
        "dataset <version>": ["dataset", VERSIONS[0]],
    }


CHILD = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("PEAK_RSS_KB", next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")), file=sys.stderr))
sys.argv = ["lamini-audit", *sys.argv[1:]]
runpy.run_module("lamini_assets.lineage.cli", run_name="__main__")
"""


def cold(db: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys: the work, whatever else loads the machine), peak RSS GB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "--db", str(db), *argv, "--json"], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr}")
    json.loads(done.stdout)
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return seconds, cpu, rss / 1024**2


RAW = {
    "models": ("select student, checkpoint_id, dataset_version, instruction_source, split, count(*) "
               "from training_manifest group by all", lambda ids: []),
    "model <student>": ("select m.instruction_source, m.split, d.teacher_model, count(*) from training_manifest m "
                        "left join lamini_dataset d using (row_id) where m.student = ? group by all",
                        lambda ids: ["student_3"]),
    "instruction <row_id>": ("select * from training_manifest where row_id = ?", lambda ids: [ids["row_id"]]),
    "diff <a> <b>": ("""with a as (select row_id, instruction_source from training_manifest where student = ? and split = 'train'),
                             b as (select row_id, instruction_source from training_manifest where student = ? and split = 'train')
                        select 'a', instruction_source, count(*) from (select * from a anti join b using (row_id)) group by all
                        union all
                        select 'b', instruction_source, count(*) from (select * from b anti join a using (row_id)) group by all""",
                     lambda ids: ["student_3", ids["last"]]),
}


def raw_baseline(conn: duckdb.DuckDBPyConnection, to_time: dict[str, list[str]], audit: Audit, students: int) -> None:
    ids = {"row_id": to_time["instruction <row_id>"][1], "last": f"student_{students - 1}"}
    print(f"\n{'raw tables, no index':<30} {'raw s':>7} {'index s':>8} {'speed-up':>8}")
    for name, (sql, params) in RAW.items():
        raw = []
        for _ in range(2):
            started = time.perf_counter()
            conn.execute(sql, params(ids)).fetchall()
            raw.append(time.perf_counter() - started)
        parsed = build_parser().parse_args(to_time[name])
        started = time.perf_counter()
        _answer(audit, parsed)
        indexed = time.perf_counter() - started
        print(f"{name:<30} {min(raw):7.3f} {indexed:8.3f} {min(raw) / indexed:7.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_580_000)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the tables in this folder")
    parser.add_argument("--baseline", action="store_true", help="also time the raw-table queries (no index)")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="audit_bench_"))
    state = folder / "state"
    db = state / "lamini.duckdb"
    state.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db)) as conn:
        if not (args.keep and conn.execute("select count(*) from information_schema.tables where table_name = 'lineage_rows'").fetchone()[0]):
            build_tables(conn, args.rows, args.students, state)
            started = time.perf_counter()
            build_lineage_index(conn)
            conn.execute("checkpoint")
            print(f"lineage index (as lineage_report builds it): {time.perf_counter() - started:.1f} s, "
                  f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB", flush=True)
        to_time = commands(conn, args.students)
    print(f"DuckDB file: {db.stat().st_size / 1024**3:.2f} GB; load average {os.getloadavg()[0]:.1f}")

    env = {**os.environ, "LAMINI_STATE_DIR": str(state), "PYTHONPATH": str(PROJECT_ROOT)}
    # What a new process pays before any query: the CLI's imports, and the pipeline config's (instruction
    # and dataset load the config for the teacher cache and the artifact store).
    for module in ("lamini_assets.lineage.cli", "lamini_assets.config"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"new process importing {module}: {time.perf_counter() - started:.2f} s wall, {cpu:.2f} s CPU")
    results = []
    for name, argv in to_time.items():
        results.append((name, *cold(db, argv, env)))

    # Warm: one process, the audit opened once (as a long-lived caller would), each command repeated.
    os.environ["LAMINI_STATE_DIR"] = str(state)
    conn = duckdb.connect(str(db), read_only=True)
    from lamini_assets.lineage.cli import _card_source, _LazyConfig, _teacher_sources

    config = _LazyConfig()
    sources = AuditSources()
    _card_source(config, sources)
    _teacher_sources(config, sources)
    audit = Audit(conn, sources)
    print(f"\n{'command':<30} {'cold s':>7} {'ratio':>6} {'cold CPU s':>10} {'cold RSS GB':>11} {'warm s':>7} {'ratio':>6}")
    for (name, cold_seconds, cold_cpu, cold_rss), argv in zip(results, to_time.values(), strict=True):
        parsed = build_parser().parse_args(argv)
        _answer(audit, parsed)
        warm = []
        for _ in range(3):
            started = time.perf_counter()
            _answer(audit, parsed)
            warm.append(time.perf_counter() - started)
        best = min(warm)
        print(f"{name:<30} {cold_seconds:7.3f} {cold_seconds / COLD_TARGET:6.2f} {cold_cpu:10.3f} {cold_rss:11.2f} "
              f"{best:7.3f} {best / WARM_TARGET:6.2f}")
    if args.baseline:
        raw_baseline(conn, to_time, audit, args.students)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"warm process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB "
          f"(targets: cold < {COLD_TARGET:.0f} s, warm < {WARM_TARGET:.0f} s; ratio = figure / target)")


if __name__ == "__main__":
    main()
