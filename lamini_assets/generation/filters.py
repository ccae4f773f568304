"""Self-Instruct/Alpaca's filters of generated instructions, datatrove-style.

`RowFilter` owns the loop, the counts and the dropped rows; a concrete filter implements only
`filter(row)`, returning True to keep the row or `(False, reason)` to drop it (a novelty filter
may add a third item: the id of the row it duplicates). Rows are dicts with at least
`instruction`; `input`, `finish_reason` and `instruction_id` are used when present.
"""

from __future__ import annotations

import re
import string
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from lamini_assets.dedup.novelty import NoveltyIndex, make_novelty_index
from lamini_assets.generation.config import InstructionFilterConfig
from lamini_assets.schema import make_instruction_id

Row = Mapping[str, Any]
Verdict = bool | tuple[Literal[False], str] | tuple[Literal[False], str, str | None]


class RowFilter(ABC):
    """A filtering step: runs `filter` over rows, counts, and keeps what it drops with the reason."""

    name: str = "filter"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"total": 0, "kept": 0}
        self.dropped: list[dict[str, Any]] = []

    @abstractmethod
    def filter(self, row: Row) -> Verdict:
        """True to keep the row; (False, reason[, neighbour_id]) to drop it."""

    def verdicts(self, rows: Sequence[Row]) -> list[Verdict]:
        """`filter` of each row in order; a filter that is faster on batches overrides this."""
        return [self.filter(row) for row in rows]

    def run(self, rows: Sequence[Row]) -> list[Row]:
        """The rows this filter keeps; the others go to `dropped` with `drop_reason` and `neighbour_id`."""
        kept: list[Row] = []
        for row, verdict in zip(rows, self.verdicts(rows), strict=True):
            self.counts["total"] += 1
            if verdict is True:
                self.counts["kept"] += 1
                kept.append(row)
                continue
            reason = verdict[1] if isinstance(verdict, tuple) else self.name
            neighbour = verdict[2] if isinstance(verdict, tuple) and len(verdict) > 2 else None
            self.counts[f"dropped_{reason}"] = self.counts.get(f"dropped_{reason}", 0) + 1
            self.dropped.append({**row, "drop_reason": reason, "neighbour_id": neighbour})
        return kept


class TruncatedFilter(RowFilter):
    """Drops rows the teacher cut off at the length limit."""

    name = "truncated"

    def filter(self, row: Row) -> Verdict:
        return (False, "truncated") if row.get("finish_reason") == "length" else True


class WordLengthFilter(RowFilter):
    """Drops instructions of `min_words` words or fewer, or of more than `max_words` (Self-Instruct:
    <= 3 or > 150). Counts the words of the instruction only, as Self-Instruct did."""

    name = "word_length"

    def __init__(self, min_words: int = 3, max_words: int = 150) -> None:
        super().__init__()
        self.min_words = min_words
        self.max_words = max_words

    def filter(self, row: Row) -> Verdict:
        words = len(str(row["instruction"]).split())
        if words <= self.min_words:
            return False, "too_short"
        if words > self.max_words:
            return False, "too_long"
        return True


class BlacklistFilter(RowFilter):
    """Drops instructions containing a blacklisted word or phrase (whole words, any case)."""

    name = "blacklist"

    def __init__(self, blacklist: Iterable[str]) -> None:
        super().__init__()
        phrases = sorted({phrase.strip().lower() for phrase in blacklist if phrase.strip()}, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases)
        self._pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE) if phrases else None

    def filter(self, row: Row) -> Verdict:
        if self._pattern is not None and self._pattern.search(str(row["instruction"])):
            return False, "blacklist"
        return True


class BadStartFilter(RowFilter):
    """Drops instructions that are empty or start with punctuation or a non-ASCII character."""

    name = "bad_start"

    def filter(self, row: Row) -> Verdict:
        text = str(row["instruction"]).lstrip()
        if not text or text[0] in string.punctuation or not text[0].isascii():
            return False, "bad_start"
        return True


def novelty_text(row: Row) -> str:
    """What near-duplicates are judged on: the instruction and its input."""
    input_text = str(row.get("input") or "")
    return f"{row['instruction']}\n{input_text}" if input_text else str(row["instruction"])


def novelty_texts(rows: pl.DataFrame) -> pl.Series:
    """`novelty_text` of every row of a frame (instruction, input), columnar."""
    input_text = pl.col("input").fill_null("") if "input" in rows.columns else pl.lit("")
    return rows.select(
        pl.when(input_text != "")
        .then(pl.concat_str([pl.col("instruction"), pl.lit("\n"), input_text]))
        .otherwise(pl.col("instruction"))
        .alias("text")
    )["text"]


def row_id(row: Row) -> str:
    return str(row.get("instruction_id") or make_instruction_id(str(row["instruction"]), str(row.get("input") or "")))


class NoveltyFilter(RowFilter):
    """Drops near-duplicates of the pool and of rows kept before them; kept rows join the index."""

    name = "near_duplicate"

    def __init__(self, index: NoveltyIndex) -> None:
        super().__init__()
        self.index = index

    def filter(self, row: Row) -> Verdict:
        is_novel, neighbour = self.index.check_and_add(row_id(row), novelty_text(row))
        return True if is_novel else (False, "near_duplicate", neighbour)

    def verdicts(self, rows: Sequence[Row]) -> list[Verdict]:
        decisions = self.index.check_and_add_batch([row_id(r) for r in rows], [novelty_text(r) for r in rows])
        return [True if is_novel else (False, "near_duplicate", neighbour) for is_novel, neighbour in decisions]


@dataclass
class FilterResult:
    kept: list[Row]
    dropped: list[dict[str, Any]]  # each row with drop_reason and neighbour_id (near-duplicates)
    counts: dict[str, int] = field(default_factory=dict)  # total, kept, dropped_{reason}


def run_filters(rows: Sequence[Row], filters: Sequence[RowFilter]) -> FilterResult:
    """Rows through each filter in turn; every input row ends up kept or dropped with its reason."""
    current: list[Row] = list(rows)
    counts: dict[str, int] = {"total": len(current)}
    dropped: list[dict[str, Any]] = []
    for step in filters:
        before = len(step.dropped)
        current = step.run(current)
        for row in step.dropped[before:]:
            counts[f"dropped_{row['drop_reason']}"] = counts.get(f"dropped_{row['drop_reason']}", 0) + 1
            dropped.append(row)
    counts["kept"] = len(current)
    return FilterResult(kept=current, dropped=dropped, counts=counts)


def instruction_filters(
    config: InstructionFilterConfig, pool_rows: Sequence[Row] = (), index: NoveltyIndex | None = None
) -> list[RowFilter]:
    """LaMini's filters in order, cheapest first and novelty last, so only survivors join the index.

    The novelty index is `index` when given (e.g. reloaded from disk), else a new one seeded with
    `pool_rows`: the instructions new rows must differ from (seeds, earlier generations).
    """
    if index is None:
        index = make_novelty_index(config.novelty)
        index.add_pool([row_id(row) for row in pool_rows], [novelty_text(row) for row in pool_rows])
    filters: list[RowFilter] = []
    if config.drop_truncated:
        filters.append(TruncatedFilter())
    filters.append(WordLengthFilter(config.min_words, config.max_words))
    if config.blacklist:
        filters.append(BlacklistFilter(config.blacklist))
    if config.drop_bad_start:
        filters.append(BadStartFilter())
    filters.append(NoveltyFilter(index))
    return filters
