"""Seeded, stable subsets: keep the rows whose hash(seed, instruction_id) ranks smallest.

A shuffle reorders everything when one row is added; ranking by a per-row hash does not, so a
file that grows keeps nearly the same selection (a new row only displaces the rows ranked after
it). Rows are ranked as they stream in and pruned as they go, so sampling a few thousand rows per
template out of millions holds only about twice the kept rows in memory.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Generic, TypeVar

Row = TypeVar("Row")


def sample_rank(seed: int, instruction_id: str) -> int:
    """The row's place in the seeded order: a 64-bit hash, smaller is kept first."""
    digest = hashlib.blake2b(f"{seed}\x1f{instruction_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# (rank, origin, arrival, row): ties of rank (duplicate ids) break on origin, so the choice does not
# depend on the order rows arrive in; arrival is unique, so rows themselves are never compared.
_Entry = tuple[int, str, int, Row]


class StreamSampler(Generic[Row]):
    """At most `max_rows_per_template` rows of each template, then at most `max_rows` in all,
    returned in arrival order."""

    def __init__(self, *, max_rows_per_template: int | None, max_rows: int | None, seed: int):
        self.max_rows_per_template = max_rows_per_template
        self.max_rows = max_rows
        self.seed = seed
        self._arrivals = 0
        self._by_template: dict[str, list[_Entry[Row]]] = {}
        self._all: list[_Entry[Row]] = []

    def add(self, row: Row, *, instruction_id: str, template: str, origin: str) -> None:
        rank = sample_rank(self.seed, instruction_id) if self._capped else 0
        entry = (rank, origin, self._arrivals, row)
        self._arrivals += 1
        if self.max_rows_per_template is not None:
            bucket = self._by_template.setdefault(template, [])
            _add_pruned(bucket, entry, self.max_rows_per_template)
        elif self.max_rows is not None:
            _add_pruned(self._all, entry, self.max_rows)
        else:
            self._all.append(entry)

    def selected(self) -> list[Row]:
        if self.max_rows_per_template is not None:
            cap = self.max_rows_per_template
            survivors = [entry for bucket in self._by_template.values() for entry in heapq.nsmallest(cap, bucket)]
        else:
            survivors = self._all
        if self.max_rows is not None:
            survivors = heapq.nsmallest(self.max_rows, survivors)
        return [row for _, _, _, row in sorted(survivors, key=lambda entry: entry[2])]

    @property
    def _capped(self) -> bool:
        return self.max_rows_per_template is not None or self.max_rows is not None


def _add_pruned(entries: list[_Entry[Row]], entry: _Entry[Row], cap: int) -> None:
    """Appends, and once the list holds twice `cap` cuts it back to its `cap` smallest:
    amortised O(log cap) a row, memory within 2 x cap."""
    entries.append(entry)
    if len(entries) >= 2 * cap:
        entries[:] = heapq.nsmallest(cap, entries)
