"""Instructions and responses materialised with the offline teacher on tmp state."""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from lamini_assets.defs import build_definitions
from tests.support.dagster_runs import (
    PROJECT_ROOT,
    SEED_SQL_AND_TOPICS,
    TOPICS_SAMPLE,
    materialization_metadata,
    materialize,
    materialize_source,
)


def pipeline_yaml(self_instruct: Path, alpaca: Path, calls: int) -> str:
    return f"""sources:
  - {{name: si, format: self_instruct_jsonl, path: {self_instruct}}}
  - {{name: al, format: alpaca_json, path: {alpaca}}}
generation:
  calls_per_partition: {{self_instruct_without_topic: {calls}, self_instruct_with_topic: 1, generated_p3: 0, generated_flan: 0}}
  topics: {{path: {TOPICS_SAMPLE}, format: sql_dump}}
"""


def test_rematerialising_calls_the_teacher_only_for_new_rows(tmp_path: Path, write_config, state_dir: Path) -> None:
    self_instruct = shutil.copy(PROJECT_ROOT / "data/sample/self_instruct_seed_tasks.jsonl", tmp_path / "si.jsonl")
    alpaca = tmp_path / "alpaca.json"
    alpaca_rows = json.loads((PROJECT_ROOT / "data/sample/alpaca_data.json").read_text())[:20]
    alpaca.write_text(json.dumps(alpaca_rows))
    config = write_config(pipeline_yaml(self_instruct, alpaca, calls=2))

    def run_upstream(defs: dg.Definitions) -> None:
        for pool in ("self_instruct", "alpaca"):
            materialize(defs, ["seed_instructions", "seed_quarantine"], pool)
        materialize(defs, SEED_SQL_AND_TOPICS)

    defs = build_definitions(config)
    run_upstream(defs)
    first = materialization_metadata(materialize_source(defs, "alpaca"), "responses")
    assert first["teacher/misses"] == first["dagster/row_count"] > 0 and first["teacher/cache_hits"] == 0
    assert "not a language model" in first["teacher/description"]

    # Three new Alpaca rows: only their three responses are new calls.
    alpaca.write_text(json.dumps(alpaca_rows + [
        {"instruction": f"List {n} uses of a paper clip.", "input": "", "output": "..."} for n in (2, 4, 7)
    ]))
    run_upstream(defs)
    second = materialization_metadata(materialize_source(defs, "alpaca"), "responses")
    assert second["teacher/misses"] == 3
    assert second["teacher/cache_hits"] == first["dagster/row_count"]

    # One more generation call: one new generation call; responses only for instructions not seen before.
    generated = materialize_source(defs, "self_instruct_without_topic")
    before = materialization_metadata(generated, "instructions")
    before_responses = materialization_metadata(generated, "responses")
    assert before["teacher/misses"] == 2 and before["generation_calls"] == 2
    defs = build_definitions(write_config(pipeline_yaml(self_instruct, alpaca, calls=3)))
    more = materialize_source(defs, "self_instruct_without_topic")
    after = materialization_metadata(more, "instructions")
    after_responses = materialization_metadata(more, "responses")
    assert after["teacher/misses"] == 1 and after["teacher/cache_hits"] == 2
    assert after_responses["teacher/cache_hits"] == before_responses["dagster/row_count"]
    assert after_responses["teacher/misses"] == after_responses["dagster/row_count"] - before_responses["dagster/row_count"]
