from pathlib import Path

import pytest

from lamini_assets.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_is_valid_and_feeds_every_pool() -> None:
    config = load_config(DEFAULT_CONFIG_PATH)
    assert {spec.pool for spec in config.sources} == {"self_instruct", "alpaca", "p3", "flan"}
    assert config.teacher.backend == "offline"
    for spec in config.sources:
        assert (config.base_dir / spec.path).exists(), spec.path


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "sources: []\nteacherr: {}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: teacherr: Extra inputs are not permitted"):
        load_config(path)


def test_wrong_type_names_nested_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "sources:\n  - {name: a, format: alpaca_json, path: a.json, max_rows: lots}\n",
    )
    with pytest.raises(ConfigError, match=r"sources\.0\.max_rows"):
        load_config(path)


def test_unknown_format_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "sources:\n  - {name: a, format: csv, path: a.csv}\n")
    with pytest.raises(ConfigError, match=r"sources\.0\.format.*'self_instruct_jsonl'"):
        load_config(path)


def test_repeated_source_names_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "sources:\n  - {name: a, format: alpaca_json, path: a.json}\n  - {name: a, format: flan, path: f.jsonl}\n",
    )
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(path)


def test_priority_must_cover_every_pool(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "sources: []\ndedup: {source_priority: [alpaca, p3]}\n")
    with pytest.raises(ConfigError, match="dedup.source_priority"):
        load_config(path)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path / "bad.yaml", "sources: [\n"))


def test_relative_paths_resolve_against_config_folder(tmp_path: Path, state_dir: Path) -> None:
    path = write(tmp_path / "c.yaml", "sources: []\n")
    config = load_config(path)
    assert config.base_dir == tmp_path
    assert config.duckdb_path == state_dir / "lamini.duckdb"
