"""Alpaca's alpaca_data.json: one JSON list of {instruction, input, output} objects.

A row's "line" is its 1-based index in the list (origin `file:[index]`), since a JSON list has no
row lines. The file is parsed whole (52K rows take ~150 MB), so a syntax error fails the whole
source, in quarantine mode too: past it no row boundary is known. Bytes that are not UTF-8 are kept
by surrogateescape and reported on the row and field that hold them. A missing or null `input` is "".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl

from lamini_assets.sources.base import (
    RawRecord,
    SeedFields,
    SeedLoader,
    SourceError,
    optional_text,
    raw_json,
    require_text,
)
from lamini_assets.sources.columnar import json_bytes, read_json_list, strip
from lamini_assets.sources.reading import foreign_encoding

_TEXT_FIELDS = ["instruction", "input", "output"]


class AlpacaLoader(SeedLoader):
    format_name = "alpaca_json"

    def records(self) -> Iterator[RawRecord]:
        path = self.resolve_path(file_only=True)
        display = self.display(path)
        data = path.read_bytes()
        encoding = foreign_encoding(data, at_start=True)
        if encoding is not None:
            raise SourceError(display, f"{encoding}: re-save it as UTF-8")
        text = data.decode("utf-8-sig", errors="surrogateescape")
        if not text.strip():
            raise SourceError(display, "file is empty: no rows")
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(display, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
        if not isinstance(rows, list):
            raise SourceError(display, f"expected a JSON list of objects, got {type(rows).__name__}")
        if not rows:
            raise SourceError(display, "file is empty: the list has no rows")
        for index, row in enumerate(rows, start=1):
            if isinstance(row, dict):
                yield RawRecord(display, index, raw_json(row), row)
            else:
                problem = f"expected a JSON object, got {type(row).__name__}"
                yield RawRecord(display, index, json.dumps(row, ensure_ascii=False), None, problem)

    def columnar_parts(self) -> Iterator[pl.DataFrame | RawRecord]:
        path = self.resolve_path(file_only=True)
        display = self.display(path)
        body = json_bytes(path, _TEXT_FIELDS, lines=False)
        frame = read_json_list(body, _TEXT_FIELDS) if body is not None and body.lstrip().startswith(b"[") else None
        if frame is None or frame.height == 0:
            yield from self.records()  # the per-row path says what is wrong with the file
            return
        instruction, output = pl.col("instruction"), pl.col("output")
        yield frame.select(
            pl.lit(display).alias("file"),
            "line",
            instruction,
            pl.col("input").fill_null(""),
            output,
            pl.lit(self.spec.name).alias("template"),
            pl.format("{}:[{}]", pl.lit(display), "line").alias("origin"),
            (instruction.is_not_null() & (strip(instruction) != "") & output.is_not_null()).alias("ok"),
        )

    def reread(self, file: str, lines: list[int]) -> list[RawRecord]:
        wanted = set(lines)
        return [record for record in self.records() if record.line in wanted]

    def parse(self, record: RawRecord) -> SeedFields:
        row = record.value
        assert row is not None
        return SeedFields(
            instruction=require_text(row, "instruction", non_empty=True),
            input=optional_text(row, "input"),
            output=require_text(row, "output"),
            template=self.spec.name,
            origin=f"{record.file}:[{record.line}]",
        )
