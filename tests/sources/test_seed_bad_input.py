"""Bad input: every bad row either stops the load with a located SourceError or is quarantined
with its location and reason; whole-file problems are errors in both modes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.schema import QUARANTINE_SCHEMA
from lamini_assets.sources import SourceError, SourceSpec, load_source


def jsonl(*lines: object) -> bytes:
    """Rows as JSONL; bytes and str items are written as they are (for broken lines)."""
    out = b""
    for line in lines:
        if isinstance(line, bytes):
            out += line + b"\n"
        elif isinstance(line, str):
            out += line.encode() + b"\n"
        else:
            out += json.dumps(line).encode() + b"\n"
    return out


def seed(task_id: str, instruction: object = "Do a thing.", instances: object = None) -> dict[str, object]:
    default = [{"input": "", "output": "Done."}]
    return {"id": task_id, "instruction": instruction, "instances": default if instances is None else instances}


GOOD_SEED = seed("t1")
GOOD_ALPACA = {"instruction": "Say hi.", "input": "", "output": "Hi."}
GOOD_P3 = {"prompt": "Is water wet?", "completion": "yes<|endoftext|>"}
GOOD_FLAN = {"inputs": "Is fire cold?", "targets": "no", "task_name": "facts"}


@dataclass(frozen=True)
class BadRowCase:
    fmt: str
    path: str
    files: dict[str, bytes]
    file: str  # as the error names it, relative to base_dir
    line: int
    field: str | None
    reason: str  # a fragment of the reason
    good_rows: int  # rows that still load in quarantine mode


BAD_ROWS = {
    "malformed_json_line": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, '{"id": "t2", "instruction": ', GOOD_SEED)},
        "seeds.jsonl",
        2,
        None,
        "not valid JSON",
        2,
    ),
    "json_line_not_an_object": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, [1, 2])},
        "seeds.jsonl",
        2,
        None,
        "expected a JSON object, got list",
        1,
    ),
    "instruction_is_a_number": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(seed("t0", 42), GOOD_SEED)},
        "seeds.jsonl",
        1,
        "instruction",
        "expected a string, got int",
        1,
    ),
    "instances_not_a_list": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, seed("t2", instances="Done."))},
        "seeds.jsonl",
        2,
        "instances",
        "expected a list, got str",
        1,
    ),
    "instances_empty": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, seed("t2", instances=[]))},
        "seeds.jsonl",
        2,
        "instances",
        "empty list",
        1,
    ),
    "instance_without_output": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, seed("t2", instances=[{"input": "x"}]))},
        "seeds.jsonl",
        2,
        "instances[0].output",
        "missing",
        1,
    ),
    "seed_without_id": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, {"instruction": "Hi.", "instances": [{"input": "", "output": "Hi."}]})},
        "seeds.jsonl",
        2,
        "id",
        "missing",
        1,
    ),
    "whitespace_instruction": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {"seeds.jsonl": jsonl(GOOD_SEED, GOOD_SEED, seed("t3", " \n\t"))},
        "seeds.jsonl",
        3,
        "instruction",
        "empty or whitespace only",
        2,
    ),
    "invalid_utf8_line": BadRowCase(
        "self_instruct_jsonl",
        "seeds.jsonl",
        {
            "seeds.jsonl": jsonl(
                GOOD_SEED, GOOD_SEED, b'{"id": "t3", "instruction": "caf\xe9", "instances": []}', GOOD_SEED
            )
        },
        "seeds.jsonl",
        3,
        None,
        "not valid UTF-8 (byte 0xe9",
        3,
    ),
    "alpaca_instruction_is_a_number": BadRowCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": json.dumps([GOOD_ALPACA, {"instruction": 7, "input": "", "output": "x"}]).encode()},
        "alpaca.json",
        2,
        "instruction",
        "expected a string, got int",
        1,
    ),
    "alpaca_missing_output": BadRowCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": json.dumps([GOOD_ALPACA, GOOD_ALPACA, {"instruction": "Hi.", "input": ""}]).encode()},
        "alpaca.json",
        3,
        "output",
        "missing",
        2,
    ),
    "alpaca_element_not_an_object": BadRowCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": json.dumps(["Say hi.", GOOD_ALPACA]).encode()},
        "alpaca.json",
        1,
        None,
        "expected a JSON object, got str",
        1,
    ),
    "alpaca_whitespace_instruction": BadRowCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": json.dumps([GOOD_ALPACA, {"instruction": "  ", "input": "", "output": "x"}]).encode()},
        "alpaca.json",
        2,
        "instruction",
        "empty or whitespace only",
        1,
    ),
    "alpaca_invalid_utf8": BadRowCase(
        "alpaca_json",
        "alpaca.json",
        {
            "alpaca.json": b'[{"instruction": "Hi.", "input": "", "output": "Hi."},\n'
            b' {"instruction": "Price?", "input": "", "output": "10 \xa3"}]'
        },
        "alpaca.json",
        2,
        "output",
        "not valid UTF-8 (byte 0xa3)",
        1,
    ),
    "p3_missing_completion": BadRowCase(
        "p3_templates",
        "p3",
        {"p3/a_tmpl.jsonl": jsonl(GOOD_P3), "p3/b_tmpl.jsonl": jsonl(GOOD_P3, {"prompt": "Q?"})},
        "p3/b_tmpl.jsonl",
        2,
        "completion",
        "missing",
        2,
    ),
    "p3_whitespace_prompt": BadRowCase(
        "p3_templates",
        "p3",
        {"p3/a_tmpl.jsonl": jsonl({"prompt": "\n", "completion": "x"}, GOOD_P3)},
        "p3/a_tmpl.jsonl",
        1,
        "prompt",
        "empty or whitespace only",
        1,
    ),
    "p3_malformed_json_line": BadRowCase(
        "p3_templates",
        "p3",
        {"p3/a_tmpl.jsonl": jsonl(GOOD_P3, "{prompt: 'Q?'}")},
        "p3/a_tmpl.jsonl",
        2,
        None,
        "not valid JSON",
        1,
    ),
    "flan_targets_is_a_number": BadRowCase(
        "flan",
        "flan.jsonl",
        {"flan.jsonl": jsonl(GOOD_FLAN, {"inputs": "1+1?", "targets": 2})},
        "flan.jsonl",
        2,
        "targets",
        "expected a string, got int",
        1,
    ),
    "flan_task_name_is_a_list": BadRowCase(
        "flan",
        "flan.jsonl",
        {"flan.jsonl": jsonl({"inputs": "1+1?", "targets": "2", "task_name": ["a"]}, GOOD_FLAN)},
        "flan.jsonl",
        1,
        "task_name",
        "expected a string, got list",
        1,
    ),
}


def write_files(base: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(content)


def spec(case: BadRowCase, on_bad_rows: str) -> SourceSpec:
    return SourceSpec(name="src", format=case.fmt, path=case.path, on_bad_rows=on_bad_rows)


@pytest.mark.parametrize("case", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_bad_row_is_an_error_naming_file_line_and_field(tmp_path: Path, case: BadRowCase) -> None:
    write_files(tmp_path, case.files)
    with pytest.raises(SourceError) as caught:
        load_source(spec(case, "error"), tmp_path)
    error = caught.value
    assert (error.file, error.line, error.field) == (case.file, case.line, case.field)
    assert case.reason in str(error)
    field_part = "" if case.field is None else f"field '{case.field}': "
    assert str(error).startswith(f"{case.file}:{case.line}: {field_part}")


@pytest.mark.parametrize("case", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_bad_row_is_quarantined_with_its_location(tmp_path: Path, case: BadRowCase) -> None:
    write_files(tmp_path, case.files)
    loaded = load_source(spec(case, "quarantine"), tmp_path)
    assert loaded.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert loaded.quarantine.height == loaded.counts["quarantined"] == 1
    row = loaded.quarantine.row(0, named=True)
    assert (row["file"], row["line"], row["field"]) == (case.file, case.line, case.field)
    assert case.reason in row["reason"]
    assert (row["seed_source"], row["source_name"]) == (loaded.rows["seed_source"][0], "src")
    assert row["raw"]
    assert loaded.counts["loaded"] == loaded.rows.height == case.good_rows
    assert loaded.counts["read"] == case.good_rows + 1


def test_quarantined_raw_row_keeps_the_offending_text(tmp_path: Path) -> None:
    broken = '{"inputs": "What is 2+2?", "targets": 4}'
    (tmp_path / "flan.jsonl").write_text(json.dumps(GOOD_FLAN) + "\n" + broken + "\n", encoding="utf-8")
    loaded = load_source(SourceSpec(name="f", format="flan", path="flan.jsonl", on_bad_rows="quarantine"), tmp_path)
    assert loaded.quarantine["raw"].to_list() == [broken]


def test_quarantined_raw_row_is_truncated(tmp_path: Path) -> None:
    long_line = json.dumps({"inputs": "x" * 5000, "targets": 1})
    (tmp_path / "flan.jsonl").write_text(json.dumps(GOOD_FLAN) + "\n" + long_line + "\n", encoding="utf-8")
    loaded = load_source(SourceSpec(name="f", format="flan", path="flan.jsonl", on_bad_rows="quarantine"), tmp_path)
    assert loaded.quarantine["raw"][0] == long_line[:2000]


def test_invalid_utf8_line_keeps_the_bytes_visible_in_quarantine(tmp_path: Path) -> None:
    (tmp_path / "flan.jsonl").write_bytes(b'{"inputs": "caf\xe9", "targets": "x"}\n' + jsonl(GOOD_FLAN))
    loaded = load_source(SourceSpec(name="f", format="flan", path="flan.jsonl", on_bad_rows="quarantine"), tmp_path)
    assert loaded.quarantine["raw"][0] == '{"inputs": "caf\\xe9", "targets": "x"}'
    assert loaded.rows.height == 1


def test_parquet_null_in_a_required_column_names_the_row(tmp_path: Path) -> None:
    pl.DataFrame({"inputs": ["Is ice cold?", None], "targets": ["yes", "no"]}).write_parquet(tmp_path / "f.parquet")
    with pytest.raises(SourceError) as caught:
        load_source(SourceSpec(name="f", format="flan", path="f.parquet"), tmp_path)
    assert (caught.value.file, caught.value.line, caught.value.field) == ("f.parquet", 2, "inputs")
    assert "got NoneType" in str(caught.value)


@dataclass(frozen=True)
class BadFileCase:
    fmt: str
    path: str
    files: dict[str, bytes]
    message: str  # the whole start of the error message
    line: int | None = None


BAD_FILES = {
    "empty_jsonl": BadFileCase(
        "self_instruct_jsonl", "seeds.jsonl", {"seeds.jsonl": b""}, "seeds.jsonl: file is empty"
    ),
    "blank_lines_only": BadFileCase("flan", "flan.jsonl", {"flan.jsonl": b"\n  \n\n"}, "flan.jsonl: file is empty"),
    "empty_alpaca_file": BadFileCase(
        "alpaca_json", "alpaca.json", {"alpaca.json": b"  \n"}, "alpaca.json: file is empty"
    ),
    "empty_alpaca_list": BadFileCase(
        "alpaca_json", "alpaca.json", {"alpaca.json": b"[]"}, "alpaca.json: file is empty"
    ),
    "empty_p3_template_given_as_the_path": BadFileCase(
        "p3_templates", "p3/b.jsonl", {"p3/b.jsonl": b""}, "p3/b.jsonl: file is empty"
    ),
    "p3_folder_of_empty_templates": BadFileCase(
        "p3_templates", "p3", {"p3/a.jsonl": b"", "p3/b.jsonl": b"\n"}, "p3: source 'src' has no rows: all 2 files are empty"
    ),
    "p3_folder_without_jsonl": BadFileCase(
        "p3_templates", "p3", {"p3/notes.txt": b"hello"}, "p3: folder has no .jsonl files"
    ),
    "flan_wrong_extension": BadFileCase(
        "flan", "flan.csv", {"flan.csv": b"inputs,targets\n"}, "flan.csv: expected a .jsonl or .parquet file"
    ),
    "alpaca_malformed_json": BadFileCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": b'[\n {"instruction": "Hi.", "output": "Hi."},\n {"instruction": }\n]'},
        "alpaca.json:3: not valid JSON",
        line=3,
    ),
    "alpaca_not_a_list": BadFileCase(
        "alpaca_json",
        "alpaca.json",
        {"alpaca.json": json.dumps(GOOD_ALPACA).encode()},
        "alpaca.json: expected a JSON list of objects, got dict",
    ),
}


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
@pytest.mark.parametrize("case", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_is_an_error_in_both_modes(tmp_path: Path, case: BadFileCase, on_bad_rows: str) -> None:
    write_files(tmp_path, case.files)
    with pytest.raises(SourceError) as caught:
        load_source(SourceSpec(name="src", format=case.fmt, path=case.path, on_bad_rows=on_bad_rows), tmp_path)
    assert str(caught.value).startswith(case.message)
    assert caught.value.line == case.line


def test_empty_parquet_is_an_error(tmp_path: Path) -> None:
    pl.DataFrame(schema={"inputs": pl.String, "targets": pl.String}).write_parquet(tmp_path / "f.parquet")
    spec = SourceSpec(name="f", format="flan", path="f.parquet", on_bad_rows="quarantine")
    with pytest.raises(SourceError, match=r"^f\.parquet: file is empty"):
        load_source(spec, tmp_path)


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
@pytest.mark.parametrize("fmt", ["self_instruct_jsonl", "alpaca_json", "p3_templates", "flan"])
def test_missing_path_names_the_path_and_the_source(tmp_path: Path, fmt: str, on_bad_rows: str) -> None:
    spec = SourceSpec(name="my_seeds", format=fmt, path="nowhere/seeds.jsonl", on_bad_rows=on_bad_rows)
    with pytest.raises(SourceError) as caught:
        load_source(spec, tmp_path)
    assert caught.value.file == str(tmp_path / "nowhere" / "seeds.jsonl")
    assert "does not exist" in str(caught.value)
    assert "'my_seeds'" in str(caught.value)
    assert "'nowhere/seeds.jsonl'" in str(caught.value)


def test_alpaca_undecodable_bytes_stay_visible_in_quarantine(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(
        b'[{"instruction": "Price?", "input": "", "output": "10 \xa3"}, ' + json.dumps(GOOD_ALPACA).encode() + b"]"
    )
    loaded = load_source(SourceSpec(name="a", format="alpaca_json", path="a.json", on_bad_rows="quarantine"), tmp_path)
    assert loaded.quarantine["raw"][0] == '{"instruction": "Price?", "input": "", "output": "10 \\xa3"}'


@pytest.mark.parametrize("on_bad_rows", ["error", "quarantine"])
def test_unreadable_parquet_is_an_error(tmp_path: Path, on_bad_rows: str) -> None:
    (tmp_path / "f.parquet").write_bytes(b"PAR1 this is not a parquet file")
    spec = SourceSpec(name="f", format="flan", path="f.parquet", on_bad_rows=on_bad_rows)
    with pytest.raises(SourceError, match=r"^f\.parquet: not a readable parquet file"):
        load_source(spec, tmp_path)
