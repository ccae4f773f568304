"""The columnar fast path gives exactly what the per-row path gives: rows, order, ids, sampling,
quarantine (file, line, field, reason, raw) and counts, on real data and on files with bad rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.schema import make_instruction_id
from lamini_assets.sources import LOADERS, SourceSpec
from lamini_assets.sources.base import LoadedSource, SeedLoader
from lamini_assets.sources.columnar import instruction_ids


def both_paths(spec: SourceSpec, base_dir: Path) -> tuple[LoadedSource, LoadedSource, list[str]]:
    """(columnar, per-row) loads of the same source, and which kinds of parts the columnar one used."""
    loader = LOADERS[spec.format](spec, base_dir)
    used: list[str] = []
    parts = loader.columnar_parts
    assert parts() is not None, f"{spec.format} has a columnar path"

    def counting_parts():  # type: ignore[no-untyped-def]
        for part in parts():
            used.append("frame" if isinstance(part, pl.DataFrame) else "record")
            yield part

    loader.columnar_parts = counting_parts  # type: ignore[method-assign]
    columnar = loader.load()
    per_row_loader = LOADERS[spec.format](spec, base_dir)
    per_row_loader.columnar_parts = lambda: None  # type: ignore[method-assign]
    return columnar, per_row_loader.load(), used


def assert_same(columnar: LoadedSource, per_row: LoadedSource) -> None:
    assert columnar.rows.equals(per_row.rows)
    assert columnar.quarantine.equals(per_row.quarantine)
    assert columnar.counts == per_row.counts
    assert columnar.empty_files == per_row.empty_files


def test_real_p3_folder_same_rows_and_sampling(shared_data: Path) -> None:
    for sampling in ({}, {"max_rows_per_template": 7, "max_rows": 500, "sample_seed": 3}):
        spec = SourceSpec(name="p3", format="p3_templates", path=str(shared_data / "p3_t0_sample"), **sampling)
        columnar, per_row, used = both_paths(spec, shared_data)
        assert columnar.counts["read"] > 20_000 and set(used) == {"frame"}
        assert_same(columnar, per_row)


def messy_flan_rows(rng: random.Random, count: int) -> list[str]:
    words = ["Straße", "ﬁle", "Ǆemal", "naïve", "word", "Tab\there", "two  spaces", "x\x1cy", "ΣΑΣ", "end\n"]
    lines = []
    for index in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
        row: dict[str, object] = {"inputs": f"\x1c {text} \u3000", "targets": rng.choice([text, "", " x "])}
        if index % 3:
            row["task_name"] = rng.choice(["anli", " cosmos ", "", None])
        if index % 4:
            row["template_type"] = rng.choice(["zs_opt", "", None, " fs "])
        lines.append(json.dumps(row, ensure_ascii=index % 2 == 0))
    return lines


@pytest.mark.parametrize("on_bad_rows", ["quarantine", "error"])
def test_flan_with_bad_rows_same_quarantine_and_rows(tmp_path: Path, on_bad_rows: str) -> None:
    rng = random.Random(0)
    folder = tmp_path / "flan"
    folder.mkdir()
    clean = messy_flan_rows(rng, 3000)
    # Rows the frame flags and the per-row path judges: null, blank and missing required fields.
    flagged = messy_flan_rows(rng, 3000)
    flagged[10] = json.dumps({"inputs": None, "targets": "a"})
    flagged[11] = json.dumps({"inputs": "   ", "targets": "a"})
    flagged[12] = json.dumps({"inputs": "fine", "targets": "a"})
    flagged[2999] = json.dumps({"targets": "no inputs"})
    flagged[500] = json.dumps({"inputs": "no targets"})
    # Files only the per-row path may read: a number where text belongs, bad JSON, a blank line, bad UTF-8.
    number = messy_flan_rows(rng, 200)
    number[5] = json.dumps({"inputs": 5, "targets": "a"})
    bad_json = messy_flan_rows(rng, 200)
    bad_json[7] = '{"inputs": "x", '
    blank = messy_flan_rows(rng, 200)
    blank[9] = ""
    (folder / "a_clean.jsonl").write_text("\ufeff" + "\r\n".join(clean) + "\r\n", encoding="utf-8")
    (folder / "b_flagged.jsonl").write_text("\n".join(flagged), encoding="utf-8")
    (folder / "c_number.jsonl").write_text("\n".join(number) + "\n", encoding="utf-8")
    (folder / "d_bad_json.jsonl").write_text("\n".join(bad_json) + "\n", encoding="utf-8")
    (folder / "e_blank.jsonl").write_text("\n".join(blank) + "\n", encoding="utf-8")
    (folder / "f_bad_utf8.jsonl").write_bytes(b'{"inputs": "caf\xe9", "targets": "x"}\n' + "\n".join(clean[:50]).encode())
    (folder / "g_empty.jsonl").write_bytes(b"")
    (folder / "h_lone_surrogate.jsonl").write_text('{"inputs": "a\\ud800b", "targets": "x"}\n' + "\n".join(clean[:40]))
    spec = SourceSpec(name="flan", format="flan", path="flan", on_bad_rows=on_bad_rows)  # type: ignore[arg-type]
    if on_bad_rows == "error":
        from lamini_assets.sources import SourceError

        errors = []
        for columnar_on in (True, False):
            loader: SeedLoader = LOADERS["flan"](spec, tmp_path)
            if not columnar_on:
                loader.columnar_parts = lambda: None  # type: ignore[method-assign]
            with pytest.raises(SourceError) as raised:
                loader.load()
            errors.append(str(raised.value))
        assert errors[0] == errors[1] and "b_flagged.jsonl:11: field 'inputs'" in errors[0]
        return
    columnar, per_row, used = both_paths(spec, tmp_path)
    assert used.count("frame") == 2 and "record" in used  # two files columnar, the rest per row
    assert columnar.quarantine.height == 8  # 4 flagged rows + number, bad JSON, bad UTF-8, lone surrogate
    assert_same(columnar, per_row)
    for sampling in ({"max_rows_per_template": 5}, {"max_rows": 100, "sample_seed": 9}):
        assert_same(*both_paths(spec.model_copy(update=sampling), tmp_path)[:2])


def test_instruction_ids_equal_make_instruction_id() -> None:
    rng = random.Random(1)
    alphabet = ["a", "B", " ", "  ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "ß", "ﬁ", "İ", "Σ", "é", "e\u0301",
                "\u3000", "１", "!", "\x00"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20_000)]
    inputs = [rng.choice(["", *texts[:50]]) for _ in texts]
    got = instruction_ids(pl.Series(texts), pl.Series(inputs)).to_list()
    assert got == [make_instruction_id(text, extra) for text, extra in zip(texts, inputs)]
