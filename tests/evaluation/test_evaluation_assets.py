"""The evaluation assets end to end on tiny students: eval_scores per student (through the Pipes
script and in-process), the rating sheet round trip, and the leaderboard with its charts."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.config import load_config
from lamini_assets.defs.evaluation import build_evaluation_assets
from lamini_assets.defs.resources import build_resources
from lamini_assets.evaluation.items import user_oriented_items
from lamini_assets.evaluation.scores import answer_frame
from tests.support.dagster_runs import materialization_metadata

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "data" / "sample"
STUDENTS = dg.StaticPartitionsDefinition(["gpt2_tiny", "t5_tiny"])
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


from tests.support.paths import SHARED_DATA
SAMPLE_TASKS = SHARED_DATA / "lamini_eval_sample"
TASKS = ["sst2", "arc_challenge"]  # a light subset keeps this test quick; test_benchmarks runs all nine


def write_config(tmp_path: Path, launcher: str, filled_sheets: list[str] | None = None) -> Path:
    local = tmp_path / "eval_sample"
    local.mkdir(exist_ok=True)
    for task in TASKS:  # the real items' first lines, in a temporary folder (never in the repo)
        (local / f"{task}.jsonl").write_text("\n".join((SAMPLE_TASKS / f"{task}.jsonl").read_text().splitlines()[:10]))
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"""sources:
  - {{name: si, format: self_instruct_jsonl, path: {SAMPLE / 'self_instruct_seed_tasks.jsonl'}}}
evaluation:
  launcher: {launcher}
  benchmarks: {{local_dir: {local}, limit: 3, batch_size: 16, alpaca_prompt: true}}
  instruction_following:
    held_out_items: 3
    user_oriented_items: 4
    max_new_tokens: 8
    filled_sheets: {filled_sheets or []}
""")
    return path


def definitions(config_path: Path) -> dg.Definitions:
    config = load_config(config_path)
    return dg.Definitions(assets=build_evaluation_assets(STUDENTS), resources=build_resources(config, str(config_path)))


def run(defs: dg.Definitions, selection: list[str], partition: str | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(defs.assets, selection=selection, partition_key=partition, resources=defs.resources,
                          run_config=QUIET, **kwargs)


def test_eval_scores_leaderboard_and_rating_round_trip(tmp_path: Path, state_dir: Path, install_checkpoints) -> None:
    install_checkpoints(state_dir)
    # gpt2 through the Pipes script (a subprocess importing dagster_pipes only), t5 in-process.
    piped = definitions(write_config(tmp_path, "subprocess"))
    result = run(piped, ["eval_scores"], "gpt2_tiny")
    metadata = materialization_metadata(result, "eval_scores")
    assert metadata["checkpoint_id"] == "ckpt-0001" and metadata["dataset_version"] == "0123456789abcdef"
    assert metadata["teacher/is_offline_stand_in"] == "true" and metadata["judge/ungraded"] == 0
    assert metadata["launcher"] == "subprocess" and metadata["evaluation_pid"] != os.getpid()
    run(definitions(write_config(tmp_path, "in_process")), ["eval_scores"], "t5_tiny")

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        scores = conn.execute("select * from eval_scores").pl()
        answers = conn.execute("select * from student_answers").pl()
    assert set(scores["checkpoint_id"]) == {"ckpt-0001"} and set(scores["dataset_version"]) == {"0123456789abcdef"}
    reported = scores.filter("reported")
    for student in ("gpt2_tiny", "t5_tiny"):
        for kind in ("base", "distilled"):
            mine = reported.filter((reported["student"] == student) & (reported["model_kind"] == kind))
            assert set(mine["task"]) == {*TASKS, "instruction_following", "teacher_judge"}
            assert mine.filter(mine["task"] == "instruction_following")["n_items"].to_list() == [3]
            assert mine.filter(mine["task"] == "sst2")["n_items"].to_list() == [3]
            judge = mine.filter(mine["task"] == "teacher_judge")
            assert sorted(judge["metric"]) == ["A", "B", "C", "D"] and abs(judge["value"].sum() - 1) < 1e-9
    assert answers.height == 2 * 2 * (3 + 4) and answers["answer_id"].n_unique() == answers.height
    assert answers.filter(answers["item_set"] == "user_oriented")["grade"].null_count() == 0

    # Human round trip: export, fill, import, leaderboard.
    sheet_meta = materialization_metadata(run(piped, ["rating_sheet"]), "rating_sheet")
    assert sheet_meta["rows"] == 4 * 4 and sheet_meta["systems"] == 4
    rows = list(csv.DictReader(io.StringIO(Path(sheet_meta["sheet"]).read_text())))
    filled = tmp_path / "filled.csv"
    with filled.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "rating": "A" if r["system"] == "S1" else "C"} for r in rows)
    with_sheet = definitions(write_config(tmp_path, "subprocess", [str(filled)]))
    human = materialization_metadata(run(with_sheet, ["human_ratings"]), "human_ratings")
    assert human["dagster/row_count"] == 16 and human["sheets"] == 1

    board = materialization_metadata(run(with_sheet, ["leaderboard"]), "leaderboard")
    text = board["leaderboard"]
    assert "| gpt2_tiny (base) |" in text and "| t5_tiny (distilled) |" in text and "Average" in text
    assert "ARC-C (acc_norm)" in text and "SST (acc)" in text and "Human ratings" in text and "Teacher judge ratings" in text
    assert "ROUGE-L" in text
    for name in ("benchmarks.png", "ratings.png"):
        assert board[f"chart/{name}"].startswith(f"![{name}](data:image/png;base64,")
        assert Path(board[f"chart_file/{name}"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_filled_sheet_fails_and_imports_nothing(tmp_path: Path, state_dir: Path) -> None:
    # Answers as eval_scores writes them (the full path is covered above), without running models.
    items = {"user_oriented": user_oriented_items(SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl", 6)}
    answers = answer_frame([{"student": s, "checkpoint_id": "c1", "model_kind": k, "item_set": "user_oriented",
                             "item_id": item_id, "answer": f"{s} {k} {item_id}"}
                            for s in ("t5_tiny", "gpt2_tiny") for k in ("base", "distilled")
                            for item_id in items["user_oriented"]["item_id"]], items, "v1", "run")
    with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:
        conn.execute("create table student_answers as select * from answers")
    defs = definitions(write_config(tmp_path, "in_process"))
    sheet_meta = materialization_metadata(run(defs, ["rating_sheet"]), "rating_sheet")
    rows = list(csv.DictReader(io.StringIO(Path(sheet_meta["sheet"]).read_text())))
    first, second, bad = tmp_path / "first.csv", tmp_path / "second.csv", tmp_path / "bad.csv"
    for path, grade, broken in ((first, "B", None), (second, "A", None), (bad, "C", 3)):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**r, "rating": "X" if n == broken else grade} for n, r in enumerate(rows))
    run(definitions(write_config(tmp_path, "in_process", [str(first)])), ["human_ratings"])
    # A good sheet and a bad one together: the good one must not land on its own.
    failed = run(definitions(write_config(tmp_path, "in_process", [str(second), str(bad)])), ["human_ratings"],
                 raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert f"{bad}: row 4 " in message and "rating 'X'" in message
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        kept = conn.execute("select count(*), any_value(sheet), any_value(rating), count(distinct sheet) "
                            "from human_ratings").fetchone()
    assert kept == (len(rows), str(first), "B", 1)  # the earlier import stands untouched


def test_missing_checkpoint_is_a_clear_failure(tmp_path: Path, state_dir: Path) -> None:
    result = run(definitions(write_config(tmp_path, "in_process")), ["eval_scores"], "t5_tiny", raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "student_checkpoints does not exist" in failure.step_failure_data.error.message
