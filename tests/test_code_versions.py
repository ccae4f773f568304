"""Code versions: SQL models hash their SQL, the shared macros and bound values; Python assets what
changes their output (template versions, config sections)."""

import shutil
from pathlib import Path

import pytest
import yaml

from lamini_assets import warehouse
from lamini_assets.defs import build_definitions
from lamini_assets.warehouse import load_sql_models

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def code_versions(config: Path) -> dict[str, str]:
    return {key.to_user_string(): version
            for asset in build_definitions(config).assets for key, version in asset.code_versions_by_key.items()}


def test_sql_code_version_covers_macros_and_bound_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (model,) = [m for m in load_sql_models() if m.name == "seed_copy_ranks"]
    assert model.parameters == ("source_priority",)
    base = model.code_version({"source_priority": ["self_instruct", "alpaca", "flan", "p3"]})
    assert model.code_version({"source_priority": ["alpaca", "self_instruct", "flan", "p3"]}) != base

    macros_dir = tmp_path / "sql"
    shutil.copytree(warehouse.SQL_MODELS_DIR, macros_dir)
    macros = macros_dir / warehouse.MACROS_FILE
    edited = macros.read_text().replace("before each model.", "before each model.\ncreate or replace macro one() as 1;")
    assert edited != macros.read_text()
    macros.write_text(edited)
    monkeypatch.setattr(warehouse, "SQL_MODELS_DIR", macros_dir)
    assert model.code_version({"source_priority": ["self_instruct", "alpaca", "flan", "p3"]}) != base


def test_python_code_versions_follow_what_changes_their_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = (PROJECT_ROOT / "configs" / "demo.yaml").read_text().replace("../data", str(PROJECT_ROOT / "data"))
    base_config = tmp_path / "base.yaml"
    base_config.write_text(demo)
    base = code_versions(base_config)
    assert all(base[name] for name in ("seed_instructions", "instructions", "responses", "lamini_dataset", "seed_stats"))

    stricter = tmp_path / "stricter.yaml"
    document = yaml.safe_load(demo)
    document["generation"]["filters"] = {"min_words": 5}
    stricter.write_text(yaml.safe_dump(document))
    changed = code_versions(stricter)
    assert changed["instructions"] != base["instructions"]
    assert changed["responses"] == base["responses"] and changed["lamini_dataset"] == base["lamini_dataset"]

    priority = tmp_path / "priority.yaml"
    priority.write_text(demo.replace("source_priority: [self_instruct, alpaca, flan, p3]", "source_priority: [alpaca, self_instruct, flan, p3]"))
    moved = code_versions(priority)
    assert moved["seed_copy_ranks"] != base["seed_copy_ranks"] and moved["instructions"] == base["instructions"]

    resharded = tmp_path / "resharded.yaml"
    document = yaml.safe_load(demo)
    document["responses"] = {**document.get("responses", {}), "shard_rows": 500}
    resharded.write_text(yaml.safe_dump(document))
    sharded = code_versions(resharded)
    assert sharded["responses"] != base["responses"] and sharded["instructions"] == base["instructions"]

    from lamini_assets.defs import automation

    monkeypatch.setattr(automation, "RESPONSE_TEMPLATE_VERSION", "lamini-response@2")
    bumped = code_versions(base_config)
    assert bumped["responses"] != base["responses"] and bumped["instructions"] == base["instructions"]
