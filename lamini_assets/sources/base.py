"""The loader contract: a format yields located raw records and parses one record at a time;
the base class owns everything else (checks, ids, quarantine, sampling, counts)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from lamini_assets.schema import QUARANTINE_SCHEMA, SEED_SCHEMA
from lamini_assets.sources.columnar import instruction_ids, sample, strip
from lamini_assets.sources.spec import SourceSpec

RAW_LIMIT = 2_000  # characters of an offending row kept in quarantine


class SourceError(ValueError):
    """A source that cannot be loaded, located as precisely as the input allows."""

    def __init__(self, file: str, reason: str, *, line: int | None = None, field: str | None = None):
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
        location = file if line is None else f"{file}:{line}"
        about = "" if field is None else f"field '{field}': "
        super().__init__(f"{location}: {about}{reason}")


class BadField(Exception):
    """Raised by a loader's `parse` for a row that is readable but wrong."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class RawRecord:
    """One row as read, before parsing. `line` is 1-based: a file line, a JSON list index or a
    table row, whichever the format has."""

    file: str
    line: int
    raw: str  # the text as read, kept in quarantine if the row is bad
    value: Mapping[str, Any] | None  # the parsed object; None when `problem` is set
    problem: str | None = None  # why the row could not be read at all (bad JSON, bad UTF-8, ...)


@dataclass(frozen=True)
class SeedFields:
    instruction: str
    input: str
    output: str
    template: str
    origin: str


@dataclass
class LoadedSource:
    rows: pl.DataFrame  # SEED_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    # read == loaded + quarantined + sampled_out; `templates` counts the loaded rows' templates;
    # `empty_outputs` the loaded rows whose reference output is empty; `empty_files` the files of a
    # folder source that hold no row (listed in `empty_files` below)
    counts: dict[str, int]
    empty_files: list[str] = field(default_factory=list)


def likely_cause(quarantine: list[tuple[object, ...]], format_name: str) -> str:
    """What a mostly-quarantined source most likely got wrong, from its quarantined rows'
    (field, reason, raw) in QUARANTINE_SCHEMA order: encoding, format or columns."""
    reasons = [str(row[5]) for row in quarantine]
    fields = [row[4] for row in quarantine]

    def share(predicate: Callable[[str], bool]) -> float:
        return sum(map(predicate, reasons)) / len(reasons)

    if share(lambda r: "UTF-16" in r or "UTF-32" in r or "NUL bytes" in r) > 0:
        encoding = next(r for r in reasons if "UTF-16" in r or "UTF-32" in r or "NUL bytes" in r)
        return f"wrong encoding: {encoding}; re-save the file as UTF-8"
    if share(lambda r: r.startswith("not valid UTF-8")) >= 0.5:
        return "wrong encoding: the file is not UTF-8 (e.g. Latin-1 or cp1252); re-save it as UTF-8"
    if share(lambda r: r.startswith(("not valid JSON", "expected a JSON object"))) >= 0.5:
        return f"wrong format: the rows are not the JSON objects format '{format_name}' reads (check 'format')"
    missing = Counter(f for f, r in zip(fields, reasons) if r == "missing" and f)
    if missing and sum(missing.values()) >= 0.5 * len(reasons):
        field_name, _ = missing.most_common(1)[0]
        found = _keys_of(str(quarantine[0][6]))
        has = f"; the rows have {', '.join(found)}" if found else ""
        return (f"wrong columns: field '{field_name}' is missing{has} (check 'format', or 'columns' for hf_dataset)")
    (field_name, reason), _ = Counter(zip(fields, reasons)).most_common(1)[0]
    about = f"field '{field_name}': " if field_name else ""
    return f"wrong columns or values: most rows fail with {about}{reason}"


def _keys_of(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(key) for key in value] if isinstance(value, dict) else []


def require_text(obj: Mapping[str, Any], field: str, *, label: str | None = None, non_empty: bool = False) -> str:
    """The string at `obj[field]`; `label` names the field in errors when it is nested."""
    name = label or field
    if field not in obj:
        raise BadField(name, "missing")
    return _checked_text(obj[field], name, non_empty=non_empty)


def optional_text(obj: Mapping[str, Any], field: str, *, label: str | None = None) -> str:
    """The string at `obj[field]`, or "" when the field is absent or null."""
    value = obj.get(field)
    return "" if value is None else _checked_text(value, label or field, non_empty=False)


def _checked_text(value: object, name: str, *, non_empty: bool) -> str:
    if not isinstance(value, str):
        raise BadField(name, f"expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates: undecodable bytes kept by surrogateescape, or a bad \ud800 escape.
        code = ord(value[exc.start])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"lone surrogate U+{code:04X}"
        raise BadField(name, f"not valid UTF-8 ({what})") from None
    if non_empty and not value.strip():
        raise BadField(name, "empty or whitespace only")
    return value


def raw_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def storable(raw: str) -> str:
    """The raw text with undecodable bytes (kept as surrogates) written as \\xNN escapes, so
    the quarantine table can hold it."""
    try:
        return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no byte produced
        return raw.encode("utf-8", "backslashreplace").decode("utf-8")


class SeedLoader(ABC):
    """Base of every format: subclasses implement `records` and `parse` only."""

    format_name: ClassVar[str]

    def __init__(self, spec: SourceSpec, base_dir: Path, *, cache_dir: Path | None = None):
        self.spec = spec
        self.base_dir = base_dir
        self.cache_dir = cache_dir  # None: the library's own default (outside the pipeline's state)
        self.empty_files: list[str] = []  # folder sources: files with no row, appended by `records`

    @abstractmethod
    def records(self) -> Iterator[RawRecord]:
        """Every row of the source, readable or not, with its location."""

    @abstractmethod
    def parse(self, record: RawRecord) -> SeedFields:
        """The seed fields of a readable record; raises BadField naming the field at fault."""

    def resolve_path(self, *, file_only: bool = False) -> Path:
        """The spec's path against base_dir; a missing path is an error naming it and the source."""
        assert self.spec.path is not None, "SourceSpec validation requires a path for this format"
        path = Path(self.spec.path)
        resolved = path if path.is_absolute() else self.base_dir / path
        if not resolved.exists():
            raise SourceError(
                str(resolved), f"path does not exist (source '{self.spec.name}', path '{self.spec.path}')"
            )
        if file_only and not resolved.is_file():
            raise SourceError(self.display(resolved), f"not a file: format '{self.spec.format}' reads one file")
        return resolved

    def display(self, path: Path) -> str:
        """A file's name in origins and errors: relative to base_dir when it is inside it."""
        try:
            return str(path.relative_to(self.base_dir))
        except ValueError:
            return str(path)

    def columnar_parts(self) -> Iterator[pl.DataFrame | RawRecord] | None:
        """The fast path (see sources/columnar.py), or None when the format has none: per file, either
        a frame of parsed fields (file, line, instruction, input, output, template, origin, and `ok`,
        False for rows the Python path must judge) or that file's RawRecords."""
        return None

    def reread(self, file: str, lines: list[int]) -> list[RawRecord]:
        """The RawRecords of some rows of a file read columnar (the rows Polars flagged)."""
        raise NotImplementedError

    def load(self) -> LoadedSource:
        spec = self.spec
        quarantine: list[tuple[object, ...]] = []  # in QUARANTINE_SCHEMA column order
        frames: list[pl.DataFrame] = []  # parsed rows: instruction, input, output, template, origin, arrival
        parsed_rows: list[tuple[str, str, str, str, str, int]] = []
        counter = {"read": 0, "arrival": 0}

        def python_path(record: RawRecord) -> None:
            try:
                if record.problem is not None:
                    raise BadField(None, record.problem)
                fields = self.parse(record)
            except BadField as bad:
                if spec.on_bad_rows == "error":
                    raise SourceError(record.file, bad.reason, line=record.line, field=bad.field) from None
                raw = storable(record.raw)[:RAW_LIMIT]
                quarantine.append((spec.pool, spec.name, record.file, record.line, bad.field, bad.reason, raw))
                return
            parsed_rows.append((fields.instruction, fields.input, fields.output, fields.template, fields.origin,
                                counter["arrival"]))
            counter["arrival"] += 1

        def flush_python_rows() -> None:
            if parsed_rows:
                frames.append(pl.DataFrame(parsed_rows, schema=_PARSED_SCHEMA, orient="row"))
                parsed_rows.clear()

        parts = self.columnar_parts()
        for part in parts if parts is not None else self.records():
            if isinstance(part, RawRecord):
                counter["read"] += 1
                python_path(part)
                continue
            counter["read"] += part.height
            # Rows in order: runs of good rows go whole; flagged rows go through the Python path.
            runs = part.with_columns((pl.col("ok") != pl.col("ok").shift(1)).fill_null(True).cum_sum().alias("run"))
            lines = part.filter(~pl.col("ok"))["line"].to_list()
            flagged = iter(self.reread(part["file"][0], lines) if lines else [])
            for run in runs.partition_by("run", maintain_order=True):
                if run["ok"][0]:
                    flush_python_rows()
                    frames.append(self._numbered(run, counter))
                else:
                    for _ in range(run.height):
                        python_path(next(flagged))
        flush_python_rows()
        read = counter["read"]
        parsed = counter["arrival"]
        where = spec.path or spec.dataset or spec.name
        if read == 0:
            every_file = f": all {len(self.empty_files)} files are empty" if self.empty_files else ""
            raise SourceError(where, f"source '{spec.name}' has no rows{every_file}")
        if quarantine and (parsed == 0 or len(quarantine) > spec.max_quarantined_share * read):
            first = quarantine[0]
            raise SourceError(
                where,
                f"source '{spec.name}': {len(quarantine)} of {read} rows quarantined (at most "
                f"{spec.max_quarantined_share:.0%} allowed, max_quarantined_share): "
                f"{likely_cause(quarantine, spec.format)}. First: {first[2]}:{first[3]}: "
                + (f"field '{first[4]}': " if first[4] else "") + str(first[5]),
            )
        # Stripped text everywhere: ids, dedup and the SQL word counts assume it.
        parsed_frame = pl.concat(frames) if frames else pl.DataFrame(schema=_PARSED_SCHEMA)
        parsed_frame = parsed_frame.with_columns(
            strip(pl.col("instruction")), strip(pl.col("input")), strip(pl.col("output"))
        )
        parsed_frame = parsed_frame.with_columns(instruction_ids(parsed_frame["instruction"], parsed_frame["input"]))
        selected = sample(parsed_frame, max_rows_per_template=spec.max_rows_per_template, max_rows=spec.max_rows,
                          seed=spec.sample_seed)
        rows = selected.select(
            "instruction_id", pl.lit(spec.pool).alias("seed_source"), pl.lit(spec.name).alias("source_name"),
            "instruction", "input", "output", "template", "origin",
        ).cast(SEED_SCHEMA)  # type: ignore[arg-type]
        counts = {
            "read": read,
            "loaded": rows.height,
            "quarantined": len(quarantine),
            "sampled_out": parsed - rows.height,
            "templates": rows["template"].n_unique(),
            "empty_outputs": rows.filter(pl.col("output") == "").height,
            "empty_files": len(self.empty_files),
        }
        quarantined = pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA, orient="row")
        return LoadedSource(rows, quarantined, counts, list(self.empty_files))

    @staticmethod
    def _numbered(good: pl.DataFrame, counter: dict[str, int]) -> pl.DataFrame:
        """Parsed rows of a columnar part, numbered on in arrival order."""
        start = counter["arrival"]
        counter["arrival"] += good.height
        return good.select(
            "instruction", "input", "output", "template", "origin",
            pl.int_range(start, start + good.height, dtype=pl.Int64).alias("arrival"),
        )


_PARSED_SCHEMA: dict[str, pl.DataType] = {
    "instruction": pl.String(), "input": pl.String(), "output": pl.String(), "template": pl.String(),
    "origin": pl.String(), "arrival": pl.Int64(),
}
