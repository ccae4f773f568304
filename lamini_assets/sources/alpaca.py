"""Alpaca's alpaca_data.json: one JSON list of {instruction, input, output} objects.

A row's "line" is its 1-based index in the list (origin `file:[index]`), since a JSON list has no
row lines. The file is parsed whole (52K rows take ~150 MB), so a syntax error fails the whole
source, in quarantine mode too: past it no row boundary is known. Bytes that are not UTF-8 are kept
by surrogateescape and reported on the row and field that hold them. A missing or null `input` is "".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from lamini_assets.sources.base import (
    RawRecord,
    SeedFields,
    SeedLoader,
    SourceError,
    optional_text,
    raw_json,
    require_text,
)
from lamini_assets.sources.reading import foreign_encoding


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
