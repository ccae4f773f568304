"""Real seed data at real size, laid out the ways users get it wrong: empty template files, wrong
format, wrong columns, wrong encoding, empty reference outputs (issue 7, defects 2-4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lamini_assets.sources import SourceError, SourceSpec, load_source

from tests.support.paths import SHARED_DATA
SEEDS = SHARED_DATA / "self_instruct_seed_tasks.jsonl"
P3 = SHARED_DATA / "p3_t0_sample"


@pytest.fixture
def p3_folder(tmp_path: Path) -> Path:
    """The 142 real P3 templates (28,246 rows), plus three 0-byte templates as the published T0 folder has."""
    folder = tmp_path / "p3"
    shutil.copytree(P3, folder)
    for name in ("a_empty_template.jsonl", "m_empty_template.jsonl", "z_empty_template.jsonl"):
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
def test_empty_template_files_in_a_folder_are_counted_and_listed(p3_folder: Path, on_bad_rows: str) -> None:
    spec = SourceSpec(name="p3", format="p3_templates", path=str(p3_folder), on_bad_rows=on_bad_rows,
                      max_rows_per_template=20)
    loaded = load_source(spec, p3_folder.parent)
    assert loaded.empty_files == ["p3/a_empty_template.jsonl", "p3/m_empty_template.jsonl", "p3/z_empty_template.jsonl"]
    assert loaded.counts["empty_files"] == 3
    assert loaded.counts["read"] == 28_246 and loaded.counts["templates"] == 142
    assert loaded.rows.height == 142 * 20


def test_one_empty_file_given_as_the_path_stays_an_error(p3_folder: Path) -> None:
    spec = SourceSpec(name="p3", format="p3_templates", path="p3/m_empty_template.jsonl", on_bad_rows="quarantine")
    with pytest.raises(SourceError, match=r"^p3/m_empty_template\.jsonl: file is empty"):
        load_source(spec, p3_folder.parent)


def alpaca_list_of_real_seeds() -> str:
    tasks = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{"instruction": t["instruction"], "input": t["instances"][0]["input"], "output": t["instances"][0]["output"]}
            for t in tasks]
    return json.dumps(rows, indent=2)


WRONG_SOURCES = {
    # Alpaca's pretty-printed JSON list read as JSONL: no line is a JSON object.
    "wrong_format": ("self_instruct_jsonl", "seeds.jsonl", lambda: alpaca_list_of_real_seeds().encode(), "wrong format"),
    # Self-Instruct tasks read as P3 templates: every row lacks "prompt".
    "wrong_columns": ("p3_templates", "p3.jsonl", lambda: SEEDS.read_bytes(),
                      "wrong columns: field 'completion' is missing; the rows have id, name, instruction"),
    "utf16_with_bom": ("self_instruct_jsonl", "seeds.jsonl", lambda: SEEDS.read_text(encoding="utf-8").encode("utf-16"),
                       "wrong encoding: starts with a UTF-16 LE byte-order mark"),
    "utf16_without_bom": ("self_instruct_jsonl", "seeds.jsonl",
                          lambda: SEEDS.read_text(encoding="utf-8").encode("utf-16-le"), "wrong encoding: contains NUL bytes"),
}


@pytest.mark.parametrize("case", WRONG_SOURCES.values(), ids=WRONG_SOURCES.keys())
def test_source_whose_every_row_is_quarantined_fails_naming_the_likely_cause(tmp_path: Path, case: tuple) -> None:
    fmt, name, content, cause = case
    (tmp_path / name).write_bytes(content())
    spec = SourceSpec(name="src", format=fmt, path=name, on_bad_rows="quarantine")
    with pytest.raises(SourceError) as caught:
        load_source(spec, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{name}: source 'src': ")
    assert "rows quarantined" in message and cause in message


def test_utf16_alpaca_file_is_an_encoding_error(tmp_path: Path) -> None:
    (tmp_path / "alpaca.json").write_bytes(alpaca_list_of_real_seeds().encode("utf-16"))
    spec = SourceSpec(name="a", format="alpaca_json", path="alpaca.json", on_bad_rows="quarantine")
    with pytest.raises(SourceError, match=r"^alpaca\.json: starts with a UTF-16 LE byte-order mark"):
        load_source(spec, tmp_path)


def seeds_with_bad_share(tmp_path: Path, bad_share: float) -> Path:
    """The 175 real seeds with the instruction removed from the first `bad_share` of them."""
    tasks = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for task in tasks[: int(bad_share * len(tasks))]:
        del task["instruction"]
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    return path


def test_more_than_the_configured_share_quarantined_fails(tmp_path: Path) -> None:
    path = seeds_with_bad_share(tmp_path, 0.6)
    spec = SourceSpec(name="s", format="self_instruct_jsonl", path=str(path), on_bad_rows="quarantine")
    with pytest.raises(SourceError, match=r"105 of 175 rows quarantined \(at most 50% allowed"):
        load_source(spec, tmp_path)
    assert load_source(spec.model_copy(update={"max_quarantined_share": 0.7}), tmp_path).rows.height == 70


def test_a_minority_of_bad_rows_is_quarantined(tmp_path: Path) -> None:
    path = seeds_with_bad_share(tmp_path, 0.4)
    loaded = load_source(SourceSpec(name="s", format="self_instruct_jsonl", path=str(path), on_bad_rows="quarantine"),
                         tmp_path)
    assert (loaded.rows.height, loaded.quarantine.height) == (105, 70)


def test_empty_reference_outputs_are_counted(p3_folder: Path) -> None:
    template = p3_folder / sorted(p.name for p in P3.glob("*.jsonl"))[0]
    rows = [json.loads(line) for line in template.read_text(encoding="utf-8").splitlines()]
    for row in rows[:7]:
        row["completion"] = " <|endoftext|>"
    template.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loaded = load_source(SourceSpec(name="p3", format="p3_templates", path="p3"), p3_folder.parent)
    assert loaded.counts["empty_outputs"] == 7 == loaded.rows.filter(loaded.rows["output"] == "").height
