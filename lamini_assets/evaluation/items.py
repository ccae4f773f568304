"""The instruction-following items: the held-out split of the training data (with the teacher's
answers as references) and Self-Instruct's user-oriented instructions (for the judge and raters)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_USER_ORIENTED = PROJECT_ROOT.parent / "shared" / "data" / "self_instruct_user_oriented_instructions.jsonl"
ITEM_SCHEMA = {"item_id": pl.String, "instruction": pl.String, "reference": pl.String}


class ItemsError(ValueError):
    """An item file that cannot be read; the message names the file, line and field."""


def user_oriented_items(path: Path, limit: int | None = None) -> pl.DataFrame:
    """Self-Instruct's user-oriented instructions: `instruction` (+ a blank line and the first instance's
    input, as LaMini writes instructions), the instance's output as reference."""
    if not path.is_file():
        raise ItemsError(f"evaluation.instruction_following.user_oriented_path: {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            task = json.loads(line)
        except json.JSONDecodeError as error:
            raise ItemsError(f"{path}:{number}: not valid JSON: {error.msg}") from error
        for field in ("id", "instruction", "instances"):
            if field not in task:
                raise ItemsError(f"{path}:{number}: field '{field}' is missing")
        instance = task["instances"][0] if task["instances"] else {"input": "", "output": ""}
        text = task["instruction"].strip()
        if instance.get("input", "").strip():
            text = f"{text}\n\n{instance['input'].strip()}"
        rows.append({"item_id": str(task["id"]), "instruction": text, "reference": instance.get("output", "")})
        if limit is not None and len(rows) >= limit:
            break
    return pl.DataFrame(rows, schema=ITEM_SCHEMA)


def held_out_items(test_rows: pl.DataFrame, limit: int) -> pl.DataFrame:
    """The first `limit` held-out rows by row_id (stable across runs): instruction and teacher response."""
    if test_rows.is_empty() or limit == 0:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    return (test_rows.sort("row_id").head(limit)
            .select(pl.col("row_id").alias("item_id"), "instruction", pl.col("response").alias("reference")))
