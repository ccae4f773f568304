"""The loader contract: a format yields located raw records and parses one record at a time;
the base class owns everything else (checks, ids, quarantine, sampling, counts)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from lamini_assets.schema import QUARANTINE_SCHEMA, SEED_SCHEMA, make_instruction_id
from lamini_assets.sources.sampling import StreamSampler
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
    # read == loaded + quarantined + sampled_out; `templates` counts the loaded rows' templates
    counts: dict[str, int]


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

    def __init__(self, spec: SourceSpec, base_dir: Path):
        self.spec = spec
        self.base_dir = base_dir

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

    def load(self) -> LoadedSource:
        spec = self.spec
        sampler: StreamSampler[tuple[object, ...]] = StreamSampler(
            max_rows_per_template=spec.max_rows_per_template, max_rows=spec.max_rows, seed=spec.sample_seed
        )
        quarantine: list[tuple[object, ...]] = []  # in QUARANTINE_SCHEMA column order
        read = parsed = 0
        for record in self.records():
            read += 1
            try:
                if record.problem is not None:
                    raise BadField(None, record.problem)
                fields = self.parse(record)
            except BadField as bad:
                if spec.on_bad_rows == "error":
                    raise SourceError(record.file, bad.reason, line=record.line, field=bad.field) from None
                raw = storable(record.raw)[:RAW_LIMIT]
                quarantine.append((spec.pool, spec.name, record.file, record.line, bad.field, bad.reason, raw))
                continue
            parsed += 1
            # Stripped text everywhere: ids, dedup and the SQL word counts assume it.
            instruction, input_text, output = fields.instruction.strip(), fields.input.strip(), fields.output.strip()
            instruction_id = make_instruction_id(instruction, input_text)
            row = (
                instruction_id,
                spec.pool,
                spec.name,
                instruction,
                input_text,
                output,
                fields.template,
                fields.origin,
            )  # SEED_SCHEMA column order
            sampler.add(row, instruction_id=instruction_id, template=fields.template, origin=fields.origin)
        if read == 0:
            raise SourceError(spec.path or spec.dataset or spec.name, f"source '{spec.name}' has no rows")
        rows = pl.DataFrame(sampler.selected(), schema=SEED_SCHEMA, orient="row")
        counts = {
            "read": read,
            "loaded": rows.height,
            "quarantined": len(quarantine),
            "sampled_out": parsed - rows.height,
            "templates": rows["template"].n_unique(),
        }
        return LoadedSource(rows, pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA, orient="row"), counts)
