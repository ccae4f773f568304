"""The blinded human rating round trip: export, fill, import; every kind of bad sheet is refused
whole, naming the row."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.artifacts import LocalArtifactStore

from lamini_assets.evaluation.items import user_oriented_items
from lamini_assets.evaluation.ratings import (
    RatingSheetError,
    export_sheet,
    import_sheet,
    import_sheet_file,
    rating_distribution,
)

from tests.support.paths import SHARED_DATA
MODELS = [("t5_tiny", "base"), ("t5_tiny", "distilled"), ("gpt2_tiny", "base"), ("gpt2_tiny", "distilled")]


def answers(n_items: int = 5) -> pl.DataFrame:
    items = user_oriented_items(SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl", n_items)
    return pl.DataFrame([
        {"student": s, "checkpoint_id": "ckpt-1", "model_kind": k, "item_id": r["item_id"],
         "instruction": r["instruction"], "answer": f"{s} {k} answer to {r['item_id']}"}
        for s, k in MODELS for r in items.iter_rows(named=True)])


def rows_of(sheet: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(sheet)))


def write(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def filled(sheet: str, grade_of=lambda n: "ABCD"[n % 4]) -> list[dict[str, str]]:
    return [{**row, "rating": grade_of(n)} for n, row in enumerate(rows_of(sheet))]


def test_sheet_is_blinded_and_the_key_maps_back() -> None:
    export = export_sheet(answers())
    rows = rows_of(export.sheet_csv)
    assert len(rows) == 20 and list(rows[0]) == ["export_id", "row_id", "item_id", "system", "instruction", "answer", "rating"]
    assert {r["system"] for r in rows} == {"S1", "S2", "S3", "S4"}
    assert "t5_tiny" not in "".join(r["system"] + r["row_id"] for r in rows)
    assert all(r["rating"] == "" for r in rows)
    # Rows are shuffled: not grouped by model.
    assert [r["system"] for r in rows[:5]] != [rows[0]["system"]] * 5
    systems = export.key["systems"]
    assert sorted((m["student"], m["model_kind"]) for m in systems.values()) == sorted(MODELS)
    assert export_sheet(answers()).export_id == export.export_id  # same answers, same export


def test_round_trip_reports_distribution_per_model() -> None:
    export = export_sheet(answers())
    # Raters give every answer of one model the same grade: the distribution must find it back.
    grade_for_system = {system: "ABCD"[n] for n, system in enumerate(sorted(export.key["systems"]))}
    rows = [{**r, "rating": grade_for_system[r["system"]].lower()} for r in rows_of(export.sheet_csv)]
    ratings = import_sheet(write(rows), export.key, "filled.csv")
    assert ratings.height == 20
    distribution = rating_distribution(ratings)
    for row in distribution.iter_rows(named=True):
        system = next(s for s, m in export.key["systems"].items()
                      if (m["student"], m["model_kind"]) == (row["student"], row["model_kind"]))
        assert row["n"] == 5 and row[grade_for_system[system]] == 1.0


def _bad_sheets(export) -> dict[str, tuple[str, str]]:
    rows = filled(export.sheet_csv)
    other = export_sheet(answers(6))
    return {
        "unknown id": (write([*rows[:3], {**rows[3], "row_id": "not-a-row"}, *rows[4:]]),
                       "row 4 .*row_id 'not-a-row' is not in export"),
        "rating outside A-D": (write([*rows[:6], {**rows[6], "rating": "E"}, *rows[7:]]),
                               "row 7 .*rating 'E' .* must be one of A, B, C, D"),
        "empty rating": (write([*rows[:2], {**rows[2], "rating": " "}, *rows[3:]]), "row 3 .*rating empty"),
        "missing row": (write(rows[:-1]), f"1 row\\(s\\) of export {export.export_id} are missing: {rows[-1]['row_id']}"),
        "duplicated row": (write([*rows, rows[5]]), f"row 21 .*row_id {rows[5]['row_id']} is repeated \\(first at row 6\\)"),
        "another export": (write(filled(other.sheet_csv)), f"row 1 .*is from another export; this sheet's key is export {export.export_id}"),
        "system changed": (write([{**rows[0], "system": "S9"}, *rows[1:]]), "row 1 .*system 'S9' does not match"),
        "column missing": (write([{k: v for k, v in r.items() if k != "rating"} for r in rows]), "columns rating are missing"),
    }


@pytest.mark.parametrize("case", ["unknown id", "rating outside A-D", "empty rating", "missing row", "duplicated row",
                                  "another export", "system changed", "column missing"])
def test_bad_sheet_is_refused_naming_the_row(case: str) -> None:
    export = export_sheet(answers())
    text, message = _bad_sheets(export)[case]
    with pytest.raises(RatingSheetError, match=message):
        import_sheet(text, export.key, "filled.csv")


def test_sheet_file_finds_its_key_and_unknown_exports_fail(tmp_path: Path) -> None:
    export = export_sheet(answers())
    keys = tmp_path / "ratings"
    (keys / export.export_id).mkdir(parents=True)
    (keys / export.export_id / "key.json").write_text(json.dumps(export.key))
    sheet = tmp_path / "filled.csv"
    sheet.write_text("\ufeff" + write(filled(export.sheet_csv)))  # as a spreadsheet saves it, with a BOM
    assert import_sheet_file(sheet, LocalArtifactStore(tmp_path)).height == 20
    stray = tmp_path / "stray.csv"
    stray.write_text(write(filled(export_sheet(answers(2)).sheet_csv)))
    with pytest.raises(RatingSheetError, match=f"{stray}: export '.*' is unknown"):
        import_sheet_file(stray, LocalArtifactStore(tmp_path))
