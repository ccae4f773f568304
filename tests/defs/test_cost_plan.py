"""The cost preview against a real run: the new calls it plans are the calls the server then receives."""

from pathlib import Path

import dagster as dg
import pytest

from lamini_assets.defs import build_definitions
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import (
    SEED_SQL_AND_TOPICS,
    SHARED_DATA,
    TOPICS_SAMPLE,
    materialization_metadata,
    materialize,
)
from tests.support.loopback_openai import LoopbackServer

LABEL = "self_instruct_without_topic"


def plan_of(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, object]:
    return materialization_metadata(materialize(defs, ["teacher_cost_plan"], instance=instance), "teacher_cost_plan")


def test_planned_new_calls_are_the_calls_the_server_receives(
    write_config, state_dir: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "unused")
    config = write_config(f"""sources:
  - {{name: seeds, format: self_instruct_jsonl, path: {SHARED_DATA / "self_instruct_seed_tasks.jsonl"}}}
generation:
  calls_per_partition: {{{LABEL}: 6}}
  topics: {{path: {TOPICS_SAMPLE}}}
teacher:
  backend: openai
  model: loopback-model
  base_url: {loopback.base_url}
  api_key_env: LOOPBACK_KEY
  requests_per_minute: 6000
  prices: {{loopback-model: {{input_usd_per_million: 1.0, output_usd_per_million: 2.0}}}}
""")
    defs = build_definitions(config)
    instance = dg.DagsterInstance.get()
    materialize(defs, ["seed_instructions", "seed_quarantine"], "self_instruct", instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)

    before = plan_of(defs, instance)
    assert loopback.app.total_requests == 0  # planning calls nobody
    assert before[f"new_calls/instructions/{LABEL}"] == 6
    assert before["cost_usd_est"] > 0 and before["minutes_at_budget"] > 0
    assert "estimate: instructions not generated yet" in before["plan"]
    # Not generated yet: at most 6 calls x 20 instructions, priced at max_tokens.
    assert before[f"new_calls/responses/{LABEL}"] == 6 * 20

    materialize(defs, ["instructions", "instruction_rejects"], LABEL, instance=instance)
    assert loopback.app.total_requests == 6

    after = plan_of(defs, instance)
    assert after[f"new_calls/instructions/{LABEL}"] == 0  # all cached now
    planned_responses = after[f"new_calls/responses/{LABEL}"]
    assert 0 < planned_responses <= 6 * 20
    loopback.app.reset_counters()
    materialize(defs, ["responses"], response_partition_key(LABEL), instance=instance)
    assert loopback.app.total_requests == planned_responses

    # Raising calls_per_partition plans exactly the added calls.
    config.write_text(config.read_text().replace(f"{LABEL}: 6", f"{LABEL}: 9"))
    defs = build_definitions(config)
    grown = plan_of(defs, instance)
    assert grown[f"new_calls/instructions/{LABEL}"] == 3
    loopback.app.reset_counters()
    materialize(defs, ["instructions", "instruction_rejects"], LABEL, instance=instance)
    assert loopback.app.total_requests == 3
