"""Topics for topic-guided generation: Wikipedia categories that pass LaMini's filter.

Two input formats, both read one line at a time (the real category table has millions of rows):

- `sql_dump`: MediaWiki's `category` table as mysqldump writes it (`*-category.sql.gz`): lines of
  ``INSERT INTO `category` VALUES (cat_id,'cat_title',cat_pages,cat_subcats,cat_files),(...);``,
  gzipped or not (detected from the file's first bytes). Each INSERT statement is one line, as
  mysqldump writes it; every other line (comments, CREATE TABLE, LOCK TABLES, ...) is skipped.
  Titles use MySQL string escapes (`\\'`, `\\\\`, `\\"`, `\\n`, ...).
- `tsv`: `title<TAB>pages<TAB>subcats` per line. The first line is a header, and skipped, when its
  first field is `title` or `cat_title` (any case); otherwise it is data.

LaMini's filter keeps categories with fewer than `max_words` words (3), more than `min_subcats`
subcategories (10) and more than `min_pages` pages (50). Underscores in titles become spaces.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

TOPIC_SCHEMA: dict[str, pl.DataType] = {
    "title": pl.String(),  # underscores replaced by spaces
    "pages": pl.Int64(),
    "subcats": pl.Int64(),
}

TopicFormat = Literal["sql_dump", "tsv"]

_INSERT_PREFIX = b"INSERT INTO `category` VALUES "
# One row tuple: (cat_id,'cat_title',cat_pages,cat_subcats,cat_files). Counts can be negative in
# real dumps (MediaWiki's counters drift), so the sign is accepted and the filter drops them.
_ROW = re.compile(r"\((-?\d+),'((?:[^'\\]|\\.)*)',(-?\d+),(-?\d+),(-?\d+)\)", re.DOTALL)
_MYSQL_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MYSQL_UNESCAPED = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_TSV_HEADER_NAMES = {"title", "cat_title"}


class TopicFilterConfig(BaseModel):
    """LaMini's category filter; every bound is exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_words: int = Field(3, ge=1)  # keep titles with fewer words than this
    min_subcats: int = 10  # keep categories with more subcategories than this
    min_pages: int = 50  # keep categories with more pages than this


class TopicParseError(ValueError):
    """A line of a category file that could not be read."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class CategoryRow:
    title: str  # as stored, underscores kept
    pages: int
    subcats: int
    line: int


@dataclass
class TopicSelection:
    """Kept topics, the counts of the filter, and the problems met when lenient."""

    topics: pl.DataFrame  # TOPIC_SCHEMA, in file order
    counts: dict[str, int]  # total, kept, dropped_{reason}
    problems: list[str] = field(default_factory=list)  # "file:line: what was wrong"


def _open_binary(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if is_gzip else path.open("rb")


def _unescape_mysql(text: str) -> str:
    return _MYSQL_ESCAPE.sub(lambda m: _MYSQL_UNESCAPED.get(m.group(1), m.group(1)), text)


def _sql_rows(path: Path, line_number: int, line: str) -> Iterator[CategoryRow | TopicParseError]:
    """Rows of one INSERT line; a malformed tuple yields an error and parsing resumes at the next."""
    position = len(_INSERT_PREFIX)
    end = len(line.rstrip())
    while position < end:
        match = _ROW.match(line, position)
        if match is None:
            snippet = line[position : position + 60]
            yield TopicParseError(path, line_number, f"column {position + 1}: not a category row: {snippet!r}")
            resume = line.find("),(", position)
            if resume < 0:
                return
            position = resume + 2
            continue
        yield CategoryRow(_unescape_mysql(match.group(2)), int(match.group(3)), int(match.group(4)), line_number)
        position = match.end()
        separator = line[position : position + 1]
        if separator == ",":
            position += 1
        elif separator == ";" and position + 1 == end:
            return
        else:
            yield TopicParseError(
                path, line_number, f"column {position + 1}: expected ',' or a final ';', found {separator!r}"
            )
            return
    yield TopicParseError(path, line_number, "INSERT statement does not end with ';'")


def iter_sql_dump(path: Path) -> Iterator[CategoryRow | TopicParseError]:
    """Category rows of a MediaWiki `category` table dump, streamed."""
    with _open_binary(path) as handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.startswith(_INSERT_PREFIX):
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield TopicParseError(path, line_number, f"not UTF-8 at byte {error.start}")
                continue
            yield from _sql_rows(path, line_number, line)


def iter_tsv(path: Path) -> Iterator[CategoryRow | TopicParseError]:
    """Category rows of a `title<TAB>pages<TAB>subcats` file, streamed."""
    with _open_binary(path) as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                yield TopicParseError(path, line_number, f"not UTF-8 at byte {error.start}")
                continue
            if not line.strip():
                continue
            fields = line.split("\t")
            if line_number == 1 and fields[0].strip().lower() in _TSV_HEADER_NAMES:
                continue
            if len(fields) != 3:
                yield TopicParseError(path, line_number, f"expected 3 tab-separated fields, found {len(fields)}")
                continue
            title, pages, subcats = fields
            try:
                yield CategoryRow(title, _int_field("pages", pages), _int_field("subcats", subcats), line_number)
            except ValueError as error:
                yield TopicParseError(path, line_number, str(error))


def _int_field(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"field {name}: not an integer: {text!r}") from None


def topic_drop_reason(row: CategoryRow, config: TopicFilterConfig) -> str | None:
    """Why LaMini's filter drops this category, or None when it is kept."""
    if len(row.title.replace("_", " ").split()) >= config.max_words:
        return "too_many_words"
    if row.subcats <= config.min_subcats:
        return "few_subcats"
    if row.pages <= config.min_pages:
        return "few_pages"
    return None


def select_topics(
    path: str | Path,
    fmt: TopicFormat,
    config: TopicFilterConfig | None = None,
    lenient: bool = False,
) -> TopicSelection:
    """Read a category file and keep LaMini's topics.

    A line that cannot be read raises `TopicParseError` (file, line, what was wrong), unless
    `lenient`, when each unreadable row counts as `dropped_unparseable` and its error is kept in
    `problems` (a malformed tuple in an INSERT line resumes at the next `),(`). A file with no
    category row at all raises ValueError: it is the wrong file or format.
    """
    path = Path(path)
    config = config or TopicFilterConfig()
    rows = iter_sql_dump(path) if fmt == "sql_dump" else iter_tsv(path)
    counts = {"total": 0, "kept": 0, "dropped_too_many_words": 0, "dropped_few_subcats": 0,
              "dropped_few_pages": 0, "dropped_unparseable": 0}
    problems: list[str] = []
    titles: list[str] = []
    pages: list[int] = []
    subcats: list[int] = []
    for row in rows:
        counts["total"] += 1
        if isinstance(row, TopicParseError):
            if not lenient:
                raise row
            counts["dropped_unparseable"] += 1
            problems.append(str(row))
            continue
        reason = topic_drop_reason(row, config)
        if reason is not None:
            counts[f"dropped_{reason}"] += 1
            continue
        counts["kept"] += 1
        titles.append(row.title.replace("_", " "))
        pages.append(row.pages)
        subcats.append(row.subcats)
    if counts["total"] == 0:
        expected = "an INSERT INTO `category` line" if fmt == "sql_dump" else "a title<TAB>pages<TAB>subcats line"
        raise ValueError(f"{path}: no category rows: found no {expected} (wrong file or format?)")
    topics = pl.DataFrame({"title": titles, "pages": pages, "subcats": subcats}, schema=TOPIC_SCHEMA)
    return TopicSelection(topics=topics, counts=counts, problems=problems)
