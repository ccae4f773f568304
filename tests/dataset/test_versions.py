"""Publishing versions: files, latest pointer, readers, the tables, and a crash mid-export."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.dataset import (
    CardFacts,
    VersionRecord,
    build_lamini_dataset,
    latest_version,
    point_latest,
    publish_version,
    read_version,
    record_version,
    render_card,
)
from lamini_assets.dataset import exports
from tests.dataset.conftest import frames


@pytest.fixture
def dataset(p3_prompts: list[str], hotpotqa_prompts: list[str]):
    instructions, responses = frames(
        [("original_p3", text, "") for text in p3_prompts[:1_500]]
        + [("generated_p3", text + " Explain why.", "") for text in p3_prompts[:200]]  # near-duplicates
        + [("generated_p3", text, "") for text in hotpotqa_prompts[:100]]
        + [("alpaca", f"Give {n} reasons to learn a language.", "for a child") for n in range(3, 60)]
    )
    return build_lamini_dataset(responses, instructions)


def card_of(dataset) -> str:
    facts = CardFacts(run_id="run-1", created_at="2026-11-27T00:00:00+00:00", config_hash="c0ffee", code_version="abc",
                      filter_settings={"min_words": 3}, upstream_rejects={"generated_p3": {"too_short": 4}})
    return render_card(dataset, facts)


def test_publish_read_and_point_latest(tmp_path: Path, dataset) -> None:
    store = LocalArtifactStore(tmp_path)
    assert latest_version(store) is None
    folder = Path(publish_version(store, dataset, card_of(dataset)))
    assert folder == tmp_path / "lamini_dataset" / dataset.version
    assert sorted(p.name for p in folder.iterdir()) == ["alpaca_format.json", "dataset_card.md", "hf_dataset", "lamini_dataset.parquet"]
    assert latest_version(store) is None  # the pointer moves only when told
    point_latest(store, dataset.version)
    assert latest_version(store) == dataset.version
    assert read_version(store, dataset.version).equals(dataset.rows)

    import datasets

    hf = datasets.load_from_disk(str(folder / "hf_dataset"))
    assert hf.num_rows == dataset.rows.height
    assert json.loads((folder / "hf_dataset" / "state.json").read_text())["_fingerprint"] == dataset.version
    assert hf[0]["row_id"] == dataset.rows["row_id"][0] and hf.column_names == dataset.rows.columns
    alpaca = json.loads((folder / "alpaca_format.json").read_text(encoding="utf-8"))
    assert len(alpaca) == dataset.rows.height and set(alpaca[0]) == {"instruction", "input", "output", "instruction_source"}
    assert sum(row["input"] == "for a child" and row["instruction_source"] == "alpaca" for row in alpaca) == 57

    card = (folder / "dataset_card.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    facts = header["lamini_assets"]
    assert facts["version"] == dataset.version and facts["run_id"] == "run-1" and facts["config_hash"] == "c0ffee"
    assert facts["rows_per_source"] == dataset.rows_per_source()
    assert facts["teacher_models"] == {"offline": dataset.rows.height}
    assert facts["prompt_template_versions"] == {"generation": {"lamini-generation@1": dataset.rows_per_source()["generated_p3"]},
                                                 "response": {"lamini-response@1": dataset.rows.height}}
    assert facts["filters"]["cross_source_near_duplicates"] == {"generated_p3": dataset.near_duplicates.height} != {"generated_p3": 0}
    assert facts["filters"]["generation_rejects"] == {"generated_p3": {"too_short": 4}}
    assert header["dataset_info"]["splits"] == [{"name": "train", "num_examples": dataset.rows.height}]
    assert "# Dataset Card for LaMini-instruction" in card and "| `original_p3` | 1,500 |" in card

    with pytest.raises(ValueError, match="not a dataset version"):
        read_version(store, "../../etc")
    with pytest.raises(FileNotFoundError):
        read_version(store, "0" * 16)


def test_a_crash_mid_export_leaves_no_version(tmp_path: Path, dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalArtifactStore(tmp_path)

    def crash(dataset: object, folder: Path, *args: object) -> None:
        assert folder.is_dir()  # the staging folder, being written
        raise OSError("disk full")

    # The Alpaca JSON is written beside the parquet and HF files: a crash in either leaves nothing.
    for failing in ("write_alpaca_json", "write_parquet_and_hf"):
        with monkeypatch.context() as patch, pytest.raises(OSError, match="disk full"):
            patch.setattr(exports, failing, crash)
            publish_version(store, dataset, card_of(dataset))
        assert not store.exists(f"lamini_dataset/{dataset.version}")
        assert list((tmp_path / "lamini_dataset").iterdir()) == []  # no staging folder left either

    publish_version(store, dataset, card_of(dataset))
    assert read_version(store, dataset.version).height == dataset.rows.height


def test_record_version_once_per_content(dataset) -> None:
    conn = duckdb.connect()
    record = VersionRecord(version=dataset.version, run_id="r1", created_at="2026-11-27T00:00:00+00:00",
                           rows_per_source=dataset.rows_per_source(), config_hash="c", code_version="v", uri="/x")
    assert record_version(conn, record, dataset.rows["row_id"]) is True
    assert record_version(conn, VersionRecord(**{**record.__dict__, "run_id": "r2"}), dataset.rows["row_id"]) is False
    assert conn.execute("select count(*), any_value(run_id) from dataset_versions").fetchone() == (1, "r1")
    assert conn.execute("select count(*) from dataset_rows where version = ?", [dataset.version]).fetchone()[0] == dataset.rows.height
    per_source = json.loads(conn.execute("select rows_per_source from dataset_versions").fetchone()[0])
    assert per_source == dataset.rows_per_source()


def test_hf_folder_written_a_shard_at_a_time(tmp_path: Path, dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of at most HF_SHARD_BYTES each, gathered into one `load_from_disk` folder: every row,
    in the parquet file's order, fingerprinted by the version."""
    import datasets

    monkeypatch.setattr(exports, "HF_SHARD_BYTES", 100_000)
    monkeypatch.setattr(exports, "BATCH_ROWS", 200)
    folder = Path(publish_version(LocalArtifactStore(tmp_path), dataset, card_of(dataset)))
    state = json.loads((folder / "hf_dataset" / "state.json").read_text())
    files = sorted(p.name for p in (folder / "hf_dataset").glob("*.arrow"))
    assert len(files) > 3 and [entry["filename"] for entry in state["_data_files"]] == files
    assert state["_fingerprint"] == dataset.version
    assert not list(folder.glob(".*"))  # no part folders left
    hf = datasets.load_from_disk(str(folder / "hf_dataset"))
    assert pl.from_arrow(hf.data.table).equals(dataset.rows)
