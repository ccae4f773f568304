"""Readers that turn files into located RawRecords, shared by the file formats."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import polars as pl

from lamini_assets.sources.base import RawRecord, SourceError, raw_json
from lamini_assets.sources.columnar import json_bytes, read_ndjson

_PARQUET_BATCH_ROWS = 10_000


# Byte-order marks of encodings that are not UTF-8: a file starting with one cannot be read as UTF-8.
_FOREIGN_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)


def foreign_encoding(data: bytes, *, at_start: bool) -> str | None:
    """Why bytes look UTF-16/32 rather than UTF-8 (a byte-order mark, or NUL bytes), else None."""
    if at_start:
        for bom, name in _FOREIGN_BOMS:
            if data.startswith(bom):
                return f"starts with a {name} byte-order mark: the file is {name}, not UTF-8"
    if b"\x00" in data:
        return "contains NUL bytes: the file looks UTF-16 or UTF-32 encoded, not UTF-8"
    return None


def read_jsonl(path: Path, display: str, *, allow_empty: bool = False) -> Generator[RawRecord, None, int]:
    """One record per non-blank line. Each line is decoded on its own, so a bad byte or bad JSON
    is reported on its line and the other lines still load. Returns the number of records; a file
    with no rows is an error unless `allow_empty` (a folder source counts it instead)."""
    seen = 0
    with path.open("rb") as handle:
        for line_number, raw_bytes in enumerate(handle, start=1):
            encoding = foreign_encoding(raw_bytes, at_start=line_number == 1)
            if encoding is not None:
                seen += 1
                raw = raw_bytes.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
                yield RawRecord(display, line_number, raw, None, encoding)
                continue
            try:
                text = raw_bytes.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                seen += 1
                raw = raw_bytes.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
                problem = f"not valid UTF-8 (byte 0x{raw_bytes[exc.start]:02x} at byte {exc.start + 1} of the line)"
                yield RawRecord(display, line_number, raw, None, problem)
                continue
            if not text.strip():
                continue
            seen += 1
            text = text.rstrip("\r\n")
            yield _json_object_record(display, line_number, text)
    if seen == 0 and not allow_empty:
        raise SourceError(display, "file is empty: no rows")
    return seen


def _json_object_record(display: str, line: int, text: str) -> RawRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return RawRecord(display, line, text, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(value, dict):
        return RawRecord(display, line, text, None, f"expected a JSON object, got {type(value).__name__}")
    return RawRecord(display, line, text, value)


def read_parquet(path: Path, display: str, *, allow_empty: bool = False) -> Generator[RawRecord, None, int]:
    """One record per table row (line = 1-based row number), read in batches so a large shard is
    never whole in memory. Returns the number of records; a file with no rows is an error unless
    `allow_empty`."""
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(display, f"not a readable parquet file: {exc}") from exc
    if table.metadata.num_rows == 0:
        if allow_empty:
            return 0
        raise SourceError(display, "file is empty: no rows")
    row_number = 0
    for batch in table.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            row_number += 1
            yield RawRecord(display, row_number, raw_json(row), row)
    return row_number


def files_in(path: Path, display: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The path itself, or the files with one of `suffixes` in the folder, sorted by name."""
    if path.is_file():
        if not path.name.endswith(suffixes):
            raise SourceError(display, f"expected a {' or '.join(suffixes)} file or a folder of them")
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
    if not found:
        raise SourceError(display, f"folder has no {' or '.join(suffixes)} files")
    return found


def jsonl_parts(
    file: Path, display: str, text_fields: list[str], parse: Callable[[pl.DataFrame], pl.DataFrame], *, allow_empty: bool
) -> Generator[pl.DataFrame | RawRecord, None, int]:
    """A JSONL file for SeedLoader.columnar_parts: one frame (`parse` of the file read columnar:
    text fields as String, `line`), or, when only the per-row path may read it (sources/columnar.py
    says when), its RawRecords. Returns the number of rows, as read_jsonl does."""
    body = json_bytes(file, text_fields)
    frame = None if body is None else read_ndjson(body, text_fields)
    if frame is None:
        return (yield from read_jsonl(file, display, allow_empty=allow_empty))
    yield parse(frame)
    return frame.height


def reread_jsonl(path: Path, display: str, lines: list[int]) -> list[RawRecord]:
    """RawRecords of some lines (1-based) of a UTF-8 JSONL file, as read_jsonl makes them."""
    text = path.read_bytes().decode("utf-8-sig").split("\n")
    return [_json_object_record(display, line, text[line - 1].rstrip("\r\n")) for line in lines]
