"""Issue 7's bar: the whole pipeline on real public data (the 175 Self-Instruct seeds and all 142 P3
templates), 20 generation calls per generated source, run twice with `make demo`'s runner; the
second run calls the teacher not once and changes no data version."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
from tests.support.paths import SHARED_DATA
TOPICS = PROJECT_ROOT / "data" / "sample" / "wikipedia" / "category_sample.sql.gz"
TEACHER_ASSETS = ("instructions", "responses")
GENERATED = ("self_instruct_without_topic", "self_instruct_with_topic", "generated_p3")


def real_data_config(path: Path) -> Path:
    # 20 rows of each of the 142 templates (all 28,246 rows are read, then sampled): a P3 pool above
    # the 1,024 rows where the saved novelty index used to break on reload.
    path.write_text(
        f"""sources:
  - {{name: self_instruct_seeds, format: self_instruct_jsonl, path: {SHARED_DATA / 'self_instruct_seed_tasks.jsonl'}}}
  - {{name: p3_t0, format: p3_templates, path: {SHARED_DATA / 'p3_t0_sample'}, max_rows_per_template: 20}}
generation:
  calls_per_partition: {{self_instruct_without_topic: 20, self_instruct_with_topic: 20, generated_p3: 20, generated_flan: 0}}
  topics: {{path: {TOPICS}}}
""",
        encoding="utf-8",
    )
    return path


def run_pipeline(config: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "lamini_assets.demo"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LAMINI_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-4000:]
    return completed.stdout


def teacher_materialisations(instance: dg.DagsterInstance, after: int | None) -> dict[tuple[str, str], dict[str, object]]:
    """(asset, partition) -> metadata values and data version of the materialisations after a storage id."""
    found = {}
    for asset in TEACHER_ASSETS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after), limit=100
        ).records
        for record in records:
            materialization = record.asset_materialization
            values = {name: value.value for name, value in materialization.metadata.items()}
            values["data_version"] = materialization.tags.get("dagster/data_version")
            # Every source here is below responses.shard_rows: one response shard each ("original_p3|0000").
            source, _, shard = materialization.partition.partition("|")
            assert shard in ("", "0000"), materialization.partition
            found[(asset, source)] = values
    return found


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the whole graph: training and evaluation of two students included
def test_real_data_runs_twice_and_the_second_run_calls_no_teacher(tmp_path: Path, state_dir: Path) -> None:
    config = real_data_config(tmp_path / "real_data.yaml")
    run_pipeline(config)

    instance = dg.DagsterInstance.get()
    first = teacher_materialisations(instance, None)
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        pools = dict(conn.execute("select seed_source, count(*) from seed_instructions group by 1").fetchall())
        templates = conn.execute("select count(distinct template) from seed_instructions where seed_source = 'p3'").fetchone()[0]
        instructions = dict(conn.execute("select instruction_source, count(*) from instructions group by 1").fetchall())
        unanswered = conn.execute("select count(*) from responses where finish_reason = 'error'").fetchone()[0]
        passed_through = conn.execute(
            "select count(*) from lamini_dataset where instruction_source in ('alpaca', 'original_p3', 'original_flan')"
        ).fetchone()[0]
        # Generated partitions read the pool's ids from seed_copy_ranks: the dedup view's ids, each once.
        view_ids = conn.execute("select instruction_id from seed_instructions_dedup").fetchall()
        rank_ids = conn.execute("select instruction_id from seed_copy_ranks where copy_rank = 1").fetchall()
        cursor = instance.event_log_storage.get_maximum_record_id()
    assert set(view_ids) == set(rank_ids) and len(rank_ids) == len(set(rank_ids)) > 2_000
    assert pools == {"self_instruct": 175, "p3": 142 * 20} and templates == 142
    assert all(instructions.get(label, 0) > 0 for label in (*GENERATED, "original_p3")), instructions
    assert unanswered == 0
    assert all(first[("instructions", label)]["teacher/misses"] == 20 for label in GENERATED)
    # The dataset's near-duplicate filter copied the pool index's signatures of every pass-through text.
    dataset_event = instance.get_latest_materialization_event(dg.AssetKey("lamini_dataset"))
    assert dataset_event is not None and dataset_event.asset_materialization is not None
    reused = dataset_event.asset_materialization.metadata["near_duplicate_signatures_reused"].value
    assert passed_through > 2_000 and reused == passed_through

    run_pipeline(config)
    second = teacher_materialisations(instance, cursor)
    assert {key for key in second if key[1] in (*GENERATED, "original_p3")} == {
        (asset, label) for asset in TEACHER_ASSETS for label in (*GENERATED, "original_p3")
    }
    for key, metadata in second.items():
        if "teacher/requests" in metadata:
            assert metadata["teacher/misses"] == 0 and metadata["teacher/http_attempts"] == 0, key
        assert metadata["data_version"] == first[key]["data_version"], key  # nothing changed, nothing goes stale
    assert second[("instructions", "generated_p3")]["novelty/pool_reused"] > 1_024
    assert second[("responses", "original_p3")]["teacher/cache_hits"] == instructions["original_p3"]
