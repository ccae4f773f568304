"""`lamini-audit` as a user runs it: a new process, readable text or JSON, exit codes, the entry point."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb
import pytest

from lamini_assets.lineage import build_lineage_index
from lamini_assets.lineage.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def audit(capsys, monkeypatch):
    """Run `lamini-audit argv` in this process (a new process per call costs seconds of imports)."""

    def run(*argv: str, state: Path | None = None) -> Done:
        if state is not None:
            monkeypatch.setenv("LAMINI_STATE_DIR", str(state))
        monkeypatch.delenv("LAMINI_CONFIG", raising=False)
        capsys.readouterr()
        code = main(list(argv))
        out = capsys.readouterr()
        return Done(code, out.out, out.err)

    return run


def audit_process(*argv: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m lamini_assets.lineage.cli argv` in a new process, as the console script runs it."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    if state is not None:
        env["LAMINI_STATE_DIR"] = str(state)
    env.pop("LAMINI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "lamini_assets.lineage.cli", *argv], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=300)


@pytest.fixture(scope="module")
def indexed(lineage_tables):
    with duckdb.connect(str(lineage_tables.db)) as conn:
        build_lineage_index(conn)
    return lineage_tables


def test_a_new_process_answers_in_json(indexed):
    done = audit_process("--json", "--db", str(indexed.db), "models")
    assert done.returncode == 0, done.stderr
    assert [m["checkpoint_id"] for m in json.loads(done.stdout)] == ["ckpt_do_1", "ckpt_do_2", "ckpt_ed_1"]
    unknown = audit_process("--db", str(indexed.db), "model", "nobody")
    assert unknown.returncode == 2 and "no student or checkpoint named 'nobody'" in unknown.stderr


def test_every_command_prints_json_that_parses(indexed, audit):
    row = indexed.dataset.filter(indexed.dataset["generation_cache_key"].is_not_null()).row(0, named=True)
    for argv in (["models"], ["model", "student_ed"], ["instruction", row["row_id"]], ["source", "alpaca"],
                 ["diff", "student_ed", "student_do"], ["dataset", "aaaaaaaaaaaaaaa1"]):
        done = audit("--db", str(indexed.db), *argv, "--json", state=indexed.state)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer


def test_readable_model_answer_and_default_db_from_the_state_folder(indexed, audit):
    done = audit("model", "ckpt_ed_1", state=indexed.state)  # no --db: LAMINI_STATE_DIR/lamini.duckdb
    assert done.returncode == 0, done.stderr
    assert "model student_ed / checkpoint ckpt_ed_1" in done.stdout
    assert "dataset version  aaaaaaaaaaaaaaa1" in done.stdout
    assert "gpt-3.5-turbo" in done.stdout and "alpaca" in done.stdout


def test_instruction_text_shows_the_teachers_prompt_and_the_generation_reply(indexed, audit):
    row = indexed.dataset.filter(indexed.dataset["generation_cache_key"].is_not_null()).row(3, named=True)
    done = audit("instruction", row["instruction"], state=indexed.state)
    assert done.returncode == 0, done.stderr
    assert "matched by text" in done.stdout
    assert f"<example>{row['task_instruction']}</example>"[:60] in done.stdout  # the cached generation reply
    assert "[user]" in done.stdout and "example seeds shown in that prompt" in done.stdout


@pytest.mark.parametrize("argv", [
    ["model", "nobody"], ["instruction", "not an instruction anyone wrote"], ["source", "wikipedia"],
    ["diff", "student_ed", "nobody"], ["dataset", "ffffffffffffffff"],
])
def test_unknown_names_exit_2_with_a_clear_message(indexed, argv, audit):
    done = audit("--db", str(indexed.db), *argv, state=indexed.state)
    assert done.returncode == 2
    assert done.stderr.startswith("lamini-audit: ") and ("unknown" in done.stderr or "no " in done.stderr)
    assert done.stdout == ""


def test_missing_file_and_untrained_pipeline_exit_1(tmp_path, audit):
    assert audit("--db", str(tmp_path / "none.duckdb"), "models").returncode == 1
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    done = audit("--db", str(empty), "models")
    assert done.returncode == 1 and "no student has been trained" in done.stderr


def test_a_file_held_by_a_writer_gives_a_clear_message(indexed, tmp_path, audit):
    copy = tmp_path / "held.duckdb"
    copy.write_bytes(indexed.db.read_bytes())
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = audit("--db", str(copy), "models")
        assert done.returncode == 1 and "a run holding the file" in done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_the_console_script_names_the_cli_main():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["lamini-audit"].partition(":")
    assert getattr(importlib.import_module(module), name) is main


def test_the_installed_entry_point_resolves_when_installed():
    entry = [e for e in metadata.entry_points(group="console_scripts") if e.name == "lamini-audit"]
    if not entry:
        pytest.skip("the installed lamini-assets predates lamini-audit: reinstall it (make install) to check")
    assert entry[0].value == "lamini_assets.lineage.cli:main"
