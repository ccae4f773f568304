"""hf_dataset: local save_to_disk folders and data files through a column mapping; hub names
fail fast and clearly when the hub is switched off."""

from __future__ import annotations

import json
import time
from pathlib import Path

import datasets
import polars as pl
import pytest

from lamini_assets.schema import SEED_SCHEMA, make_instruction_id
from lamini_assets.sources import SourceError, SourceSpec, load_source

QA = {
    "question": ["What is the capital of Peru?", "Summarise the text.", "Name a prime number."],
    "context": ["", "Cats sleep a lot.", ""],
    "answer": ["Lima", "Cats sleep most of the day.", "7"],
    "task": ["geo_qa", "summary", "math"],
}
COLUMNS = {"instruction": "question", "input": "context", "output": "answer", "template": "task"}


def hf_spec(**fields: object) -> SourceSpec:
    return SourceSpec(**({"name": "qa", "format": "hf_dataset", "pool": "alpaca", "columns": COLUMNS} | fields))


def test_save_to_disk_dataset_with_a_column_mapping(tmp_path: Path) -> None:
    datasets.Dataset.from_dict(QA).save_to_disk(str(tmp_path / "qa"))
    loaded = load_source(hf_spec(path="qa"), tmp_path)
    rows = loaded.rows
    assert rows.schema == pl.Schema(SEED_SCHEMA)
    assert loaded.counts == {"read": 3, "loaded": 3, "quarantined": 0, "sampled_out": 0, "templates": 3, "empty_outputs": 0, "empty_files": 0}
    assert rows["instruction"].to_list() == QA["question"]
    assert rows["input"].to_list() == QA["context"]
    assert rows["output"].to_list() == QA["answer"]
    assert rows["template"].to_list() == QA["task"]
    assert rows["instruction_id"][1] == make_instruction_id(QA["question"][1], QA["context"][1])
    assert set(rows["seed_source"]) == {"alpaca"}
    assert rows["origin"].to_list() == ["qa[train]:1", "qa[train]:2", "qa[train]:3"]


def test_saved_dataset_dict_picks_the_split(tmp_path: Path) -> None:
    train = datasets.Dataset.from_dict(QA)
    test = datasets.Dataset.from_dict({name: values[:1] for name, values in QA.items()})
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "qa"))
    rows = load_source(hf_spec(path="qa", split="test"), tmp_path).rows
    assert rows["instruction"].to_list() == QA["question"][:1]
    assert rows["origin"][0] == "qa[test]:1"
    with pytest.raises(SourceError, match=r"no split 'validation'; it has \['train', 'test'\]"):
        load_source(hf_spec(path="qa", split="validation"), tmp_path)


def test_local_json_file_with_only_an_instruction_column(tmp_path: Path) -> None:
    records = [{"prompt": q, "extra": 1} for q in QA["question"]]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    loaded = load_source(hf_spec(name="prompts", path="prompts.jsonl", columns={"instruction": "prompt"}), tmp_path)
    rows = loaded.rows
    assert rows["instruction"].to_list() == QA["question"]
    assert set(rows["input"]) == set(rows["output"]) == {""}
    assert set(rows["template"]) == {"prompts"}  # no template column: the source name


def test_mapped_column_missing_from_the_dataset(tmp_path: Path) -> None:
    datasets.Dataset.from_dict(QA).save_to_disk(str(tmp_path / "qa"))
    with pytest.raises(SourceError) as caught:
        load_source(hf_spec(path="qa", columns={"instruction": "query", "output": "answer"}), tmp_path)
    assert caught.value.field == "query"
    assert "column(s) ['query'] not in the dataset" in str(caught.value)
    assert "'qa'" in str(caught.value)


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
def test_bad_rows_in_a_dataset(tmp_path: Path, on_bad_rows: str) -> None:
    data = {"question": ["Fine?", "   ", None, "Sure?"], "answer": ["yes", "no", "maybe", "yes"]}
    datasets.Dataset.from_dict(data).save_to_disk(str(tmp_path / "qa"))
    spec = hf_spec(path="qa", columns={"instruction": "question", "output": "answer"}, on_bad_rows=on_bad_rows)
    if on_bad_rows == "error":
        with pytest.raises(SourceError, match=r"^qa\[train\]:2: field 'question': empty or whitespace only"):
            load_source(spec, tmp_path)
        return
    loaded = load_source(spec, tmp_path)
    assert loaded.rows["instruction"].to_list() == ["Fine?", "Sure?"]
    quarantine = loaded.quarantine.select("file", "line", "field", "reason").rows()
    assert quarantine == [
        ("qa[train]", 2, "question", "empty or whitespace only"),
        ("qa[train]", 3, "question", "expected a string, got NoneType"),
    ]


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
def test_empty_data_file_is_an_error(tmp_path: Path, on_bad_rows: str) -> None:
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    spec = hf_spec(path="empty.jsonl", columns={"instruction": "question"}, on_bad_rows=on_bad_rows)
    with pytest.raises(SourceError, match=r"^empty\.jsonl: source 'qa': cannot load split 'train'"):
        load_source(spec, tmp_path)


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist \\(source 'qa', path 'gone'\\)"):
        load_source(hf_spec(path="gone"), tmp_path)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_hub_name_offline_fails_fast_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv(variable, "1")
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        load_source(hf_spec(dataset="yahma/alpaca-cleaned"), tmp_path)
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert message.startswith("yahma/alpaca-cleaned: source 'qa'")
    assert "hub dataset name, which needs network" in message
    assert f"{variable} is set" in message


def test_local_folder_of_data_files(tmp_path: Path) -> None:
    folder = tmp_path / "qa_files"
    folder.mkdir()
    records = [dict(zip(QA, values, strict=True)) for values in zip(*QA.values(), strict=True)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rows = load_source(hf_spec(path="qa_files"), tmp_path).rows
    assert rows["output"].to_list() == QA["answer"]
    assert rows["origin"][0] == "qa_files[train]:1"


def test_hub_name_online_asks_datasets_for_the_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    asked: list[tuple[str, str]] = []

    def fake_load_dataset(name: str, split: str) -> datasets.Dataset:  # stands in for the network
        asked.append((name, split))
        return datasets.Dataset.from_dict(QA)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = load_source(hf_spec(dataset="org/qa", split="validation"), tmp_path).rows
    assert asked == [("org/qa", "validation")]
    assert rows["origin"][2] == "org/qa[validation]:3"


def test_data_files_cache_only_in_the_given_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_dataset's Arrow cache goes where the pipeline says (its state dir), never to the user's
    ~/.cache/huggingface (here a stand-in folder, so the test sees a write there)."""
    user_cache = tmp_path / "user_hf_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", user_cache)
    records = [dict(zip(QA, values, strict=True)) for values in zip(*QA.values(), strict=True)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    state_cache = tmp_path / "state" / "hf_datasets_cache"
    rows = load_source(hf_spec(path="qa.jsonl"), tmp_path, cache_dir=state_cache).rows
    assert rows["output"].to_list() == QA["answer"]
    assert list(state_cache.rglob("*.arrow")), "the Arrow cache is under the given cache_dir"
    assert not user_cache.exists() or not any(p.is_file() for p in user_cache.rglob("*"))
