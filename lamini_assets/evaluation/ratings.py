"""Human A-D ratings, blinded: export a rating sheet (CSV) whose systems are anonymous, keep the key
that maps them back to models apart, import the filled sheet, and count the grades per model.

An import checks the whole sheet against its key before anything is written: an unknown row, a
grade outside A-D, a missing or repeated row, or a sheet from another export stops it with the
row named, so a sheet is imported whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.evaluation.instruction import GRADES, RUBRIC

SHEET_COLUMNS = ("export_id", "row_id", "item_id", "system", "instruction", "answer", "rating")
RATINGS_SCHEMA = {
    "export_id": pl.String, "row_id": pl.String, "item_id": pl.String, "system": pl.String,
    "student": pl.String, "checkpoint_id": pl.String, "model_kind": pl.String, "rating": pl.String,
    "sheet": pl.String,
}


class RatingSheetError(ValueError):
    """A filled sheet that does not match its export; the message names the sheet and the row."""


@dataclass(frozen=True)
class RatingExport:
    export_id: str
    sheet_csv: str  # what raters see: no model names
    key: dict[str, Any]  # systems -> models and row -> (item, system); kept away from raters


def export_sheet(answers: pl.DataFrame) -> RatingExport:
    """A blinded sheet over `answers` (student, checkpoint_id, model_kind, item_id, instruction, answer).

    The export id is a hash of the content, so exporting the same answers twice gives the same sheet.
    Systems get anonymous ids (S1, S2, ...) in an order shuffled by the export id; rows are shuffled too,
    so neither the order nor the ids reveal which model wrote an answer.
    """
    if answers.is_empty():
        raise RatingSheetError("no answers to put on a rating sheet")
    answers = answers.sort("student", "model_kind", "checkpoint_id", "item_id")
    digest = hashlib.sha256()
    for row in answers.select("student", "checkpoint_id", "model_kind", "item_id", "answer").iter_rows():
        digest.update(json.dumps(row).encode("utf-8"))
    export_id = digest.hexdigest()[:16]
    rng = random.Random(export_id)
    models = sorted({(r["student"], r["checkpoint_id"], r["model_kind"]) for r in answers.iter_rows(named=True)})
    rng.shuffle(models)
    system_of = {model: f"S{n}" for n, model in enumerate(models, start=1)}
    rows = []
    for row in answers.iter_rows(named=True):
        rows.append({"item_id": row["item_id"], "system": system_of[(row["student"], row["checkpoint_id"], row["model_kind"])],
                     "instruction": row["instruction"], "answer": row["answer"]})
    rng.shuffle(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    key_rows = {}
    for n, row in enumerate(rows, start=1):
        row_id = f"{export_id}-{n:05d}"
        writer.writerow({"export_id": export_id, "row_id": row_id, **row, "rating": ""})
        key_rows[row_id] = {"item_id": row["item_id"], "system": row["system"]}
    key = {
        "export_id": export_id,
        "systems": {system: {"student": m[0], "checkpoint_id": m[1], "model_kind": m[2]} for m, system in system_of.items()},
        "rows": key_rows,
        "rubric": RUBRIC,
    }
    return RatingExport(export_id, buffer.getvalue(), key)


def sheet_export_id(sheet_text: str, sheet_name: str) -> str:
    """The export id a filled sheet claims (from its first row), to find its key."""
    reader = csv.DictReader(io.StringIO(sheet_text))
    first = next(reader, None)
    if first is None or not first.get("export_id"):
        raise RatingSheetError(f"{sheet_name}: no rows, or no export_id column")
    return first["export_id"].strip()


def import_sheet(sheet_text: str, key: dict[str, Any], sheet_name: str) -> pl.DataFrame:
    """The filled sheet's ratings joined to the models, after checking every row against the key."""
    reader = csv.DictReader(io.StringIO(sheet_text))
    missing_columns = [c for c in ("export_id", "row_id", "item_id", "system", "rating") if c not in (reader.fieldnames or [])]
    if missing_columns:
        raise RatingSheetError(f"{sheet_name}: columns {', '.join(missing_columns)} are missing")
    expected_rows: dict[str, dict[str, str]] = key["rows"]
    seen: dict[str, int] = {}
    rows = []
    for number, row in enumerate(reader, start=1):
        where = f"{sheet_name}: row {number} (line {reader.line_num})"
        export_id = (row["export_id"] or "").strip()
        if export_id != key["export_id"]:
            raise RatingSheetError(f"{where}: export_id {export_id!r} is from another export; this sheet's key is "
                                   f"export {key['export_id']}")
        row_id = (row["row_id"] or "").strip()
        if row_id not in expected_rows:
            raise RatingSheetError(f"{where}: row_id {row_id!r} is not in export {key['export_id']}")
        if row_id in seen:
            raise RatingSheetError(f"{where}: row_id {row_id} is repeated (first at row {seen[row_id]})")
        seen[row_id] = number
        expected = expected_rows[row_id]
        for field in ("item_id", "system"):
            if (row[field] or "").strip() != expected[field]:
                raise RatingSheetError(f"{where}: {field} {row[field]!r} does not match the export "
                                       f"({expected[field]!r} for {row_id})")
        rating = (row["rating"] or "").strip().upper()
        if rating not in GRADES:
            shown = repr(row["rating"]) if (row["rating"] or "").strip() else "empty"
            raise RatingSheetError(f"{where}: rating {shown} for {row_id} must be one of A, B, C, D")
        model = key["systems"][expected["system"]]
        rows.append({"export_id": export_id, "row_id": row_id, "item_id": expected["item_id"],
                     "system": expected["system"], **model, "rating": rating, "sheet": sheet_name})
    missing = [row_id for row_id in expected_rows if row_id not in seen]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise RatingSheetError(f"{sheet_name}: {len(missing)} row(s) of export {key['export_id']} are missing: {shown}")
    return pl.DataFrame(rows, schema=RATINGS_SCHEMA)


def import_sheet_file(path: Path, store: ArtifactStore) -> pl.DataFrame:
    """Read a filled sheet and check it against the key `rating_sheet` saved at `ratings/<export_id>/key.json`
    in the artifact store (a folder or a bucket)."""
    text = path.read_text(encoding="utf-8-sig")  # spreadsheets often save a BOM
    export_id = sheet_export_id(text, str(path))
    key = f"ratings/{export_id}/key.json"
    if not store.exists(key):
        raise RatingSheetError(f"{path}: export {export_id!r} is unknown (no key at {store.uri(key)})")
    return import_sheet(text, json.loads(store.read_bytes(key)), str(path))


def rating_distribution(ratings: pl.DataFrame) -> pl.DataFrame:
    """Per model: number rated and the share of each grade A-D."""
    if ratings.is_empty():
        return pl.DataFrame(schema={"student": pl.String, "model_kind": pl.String, "checkpoint_id": pl.String,
                                    "n": pl.Int64, **{g: pl.Float64 for g in GRADES}})
    return (ratings.group_by("student", "model_kind", "checkpoint_id")
            .agg(pl.len().cast(pl.Int64).alias("n"), *[(pl.col("rating") == g).mean().alias(g) for g in GRADES])
            .sort("student", "model_kind"))
