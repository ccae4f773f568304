"""Numba kernels: the per-byte, per-shingle and per-candidate loops numpy cannot fuse.

MinHash signing, measured on 100k LaMini-shaped FLAN inputs (3.7M shingles, 128 permutations, CPU seconds):
- the permutations: numpy's multiply, add and minimum (three passes over a block) 0.75 s, the fused
  loop here 0.08 s;
- words: Polars' `\\w+` extract_all (a list of strings per row) 0.43 s, the byte scan here 0.03 s.

Every kernel releases the GIL (`nogil`), so the signer's thread pool runs them on every core, and is
cached on disk (`cache`), so a step process loads it instead of compiling it again.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
from numba import njit


def worker_threads() -> int:
    """Threads for GIL-releasing kernels: every core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def string_buffers(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string column, zero-copy when it is one plain or large string array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.type not in (pa.string(), pa.large_string()):
        column = column.cast(pa.large_string())
    offset_type = np.int64 if column.type == pa.large_string() else np.int32
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type, count=len(column) + 1,
                            offset=column.offset * np.dtype(offset_type).itemsize)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    return offsets, data


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SPACE = np.uint8(0x20)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True, inline="always")
def _fnv_step(state: np.uint64, byte: np.uint8) -> np.uint64:
    return (state ^ np.uint64(byte)) * _FNV_PRIME


@njit(cache=True, nogil=True, inline="always")
def _fold(state: np.uint64) -> np.uint32:
    return np.uint32((state ^ (state >> np.uint64(32))) & _LOW32)


@njit(cache=True, nogil=True)
def hash_byte_ranges(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """32-bit hash of each byte range data[offsets[i]:offsets[i + 1]]: FNV-1a 64, high half folded
    into the low (the shingle hash; the signer applies MurmurHash3's finalizer after it)."""
    out = np.empty(len(offsets) - 1, dtype=np.uint32)
    for i in range(len(offsets) - 1):
        state = _FNV_OFFSET
        for k in range(offsets[i], offsets[i + 1]):
            state = _fnv_step(state, data[k])
        out[i] = _fold(state)
    return out


@njit(cache=True, nogil=True, inline="always")
def _is_word_byte(byte: np.uint8) -> bool:
    # `\w` on ASCII text: letters, digits and the underscore.
    return (byte >= 48 and byte <= 57) or (byte >= 65 and byte <= 90) or (byte >= 97 and byte <= 122) or byte == 95


@njit(cache=True, nogil=True)
def ascii_shingle_hashes(data: np.ndarray, offsets: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, counts): the hashes of each text's word `size`-grams, texts one after another, and how
    many each text has. A shingle is its words joined by one space, hashed as `hash_byte_ranges` hashes
    that string; a text of at most `size` words is one shingle, an empty one the empty string. ASCII
    texts only (`\\w` is then [0-9A-Za-z_])."""
    rows = len(offsets) - 1
    counts = np.empty(rows, dtype=np.int64)
    longest = 0
    for row in range(rows):
        longest = max(longest, offsets[row + 1] - offsets[row])
    # Sized once for the most words a text can hold: an array grown in the loop costs numba 4x.
    starts = np.empty(longest // 2 + 1, dtype=np.int64)
    ends = np.empty(longest // 2 + 1, dtype=np.int64)
    hashes = np.empty((offsets[rows] - offsets[0]) // 2 + 2 * rows, dtype=np.uint32)
    used = 0
    for row in range(rows):
        words = 0
        k, stop = offsets[row], offsets[row + 1]
        while k < stop:  # the row's words as byte ranges
            while k < stop and not _is_word_byte(data[k]):
                k += 1
            if k == stop:
                break
            starts[words] = k
            while k < stop and _is_word_byte(data[k]):
                k += 1
            ends[words] = k
            words += 1
        grams = max(1, words - size + 1)
        for gram in range(grams):
            state = _FNV_OFFSET
            for word in range(gram, min(words, gram + size)):
                if word > gram:
                    state = _fnv_step(state, _SPACE)
                for position in range(starts[word], ends[word]):
                    state = _fnv_step(state, data[position])
            hashes[used + gram] = _fold(state)
        counts[row] = grams
        used += grams
    return hashes[:used], counts


@njit(cache=True, nogil=True)
def fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine permutations."""
    out = np.empty_like(values)
    for i in range(len(values)):
        # In uint64 with explicit masks: numba widens uint32 products instead of wrapping them.
        value = np.uint64(values[i])
        value ^= value >> np.uint64(16)
        value = (value * np.uint64(0x85EBCA6B)) & _LOW32
        value ^= value >> np.uint64(13)
        value = (value * np.uint64(0xC2B2AE35)) & _LOW32
        out[i] = np.uint32(value ^ (value >> np.uint64(16)))
    return out


@njit(cache=True, nogil=True)
def permuted_minima(hashes: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(rows, len(a)) signatures: per row, the minimum over its shingle hashes h of (a * h + b) mod 2**32,
    datasketch's affine32 permutations; rows' hashes lie one after another, counts[i] of them each."""
    out = np.empty((len(counts), len(a)), dtype=np.uint32)
    start = 0
    for row in range(len(counts)):
        signature = out[row]
        signature[:] = np.uint32(0xFFFFFFFF)
        for k in range(start, start + counts[row]):
            value = np.uint64(hashes[k])
            for j in range(len(a)):
                permuted = np.uint32((np.uint64(a[j]) * value + np.uint64(b[j])) & _LOW32)
                if permuted < signature[j]:
                    signature[j] = permuted
        start += counts[row]
    return out


@njit(cache=True, nogil=True)
def merge_sorted(older: np.ndarray, newer: np.ndarray) -> np.ndarray:
    """Two sorted uint64 arrays as one sorted array, in one linear pass (numpy's searchsorted +
    insert made two passes and a binary search per element)."""
    out = np.empty(len(older) + len(newer), dtype=older.dtype)
    i = j = k = 0
    while i < len(older) and j < len(newer):
        if newer[j] < older[i]:
            out[k] = newer[j]
            j += 1
        else:
            out[k] = older[i]
            i += 1
        k += 1
    out[k : k + len(older) - i] = older[i:]
    k += len(older) - i
    out[k : k + len(newer) - j] = newer[j:]
    return out


@njit(cache=True, nogil=True, inline="always")
def _first_at_least(entries: np.ndarray, start: int, prefix: np.uint64, prefix_mask: np.uint64) -> int:
    """The first index >= start whose entry's prefix is >= prefix: a gallop from start, then a binary
    search (queries arrive sorted, so each search starts where the last ended)."""
    size = len(entries)
    if start >= size or (entries[start] & prefix_mask) >= prefix:
        return start
    step = 1
    low = start  # entries[low] < prefix
    while low + step < size and (entries[low + step] & prefix_mask) < prefix:
        low += step
        step *= 2
    high = min(low + step, size)  # entries[high] >= prefix, or high == size
    while high - low > 1:
        middle = (low + high) // 2
        if (entries[middle] & prefix_mask) < prefix:
            low = middle
        else:
            high = middle
    return high


@njit(cache=True, nogil=True, inline="always")
def _equal_slots(signatures: np.ndarray, row: int, indexed: np.ndarray, position: int) -> int:
    equal = 0
    for slot in range(signatures.shape[1]):
        equal += signatures[row, slot] == indexed[position, slot]
    return equal


@njit(cache=True, nogil=True)
def nearest_in_segment(
    prefixes: np.ndarray, rows_of_prefixes: np.ndarray, segment: np.ndarray, position_bits: int,
    signatures: np.ndarray, saved: np.ndarray, added: np.ndarray, min_equal: int,
    best_position: np.ndarray, best_equal: np.ndarray,
) -> None:
    """For each query row, its most similar indexed row among those sharing a band key in `segment`,
    folded into best_position/best_equal (ties: the lowest position, i.e. the earliest indexed).

    `prefixes`: the query rows' band keys (position bits cleared), sorted; `rows_of_prefixes`: the row
    of each. `segment`: sorted bucket entries, key prefix | position. An indexed row's signature is
    saved[position], or added[position - len(saved)]. A pair counts when at least `min_equal` slots
    are equal; it is compared once per band it shares, as the numpy version did.
    """
    position_mask = np.uint64((1 << position_bits) - 1)
    prefix_mask = ~position_mask
    saved_rows = len(saved)
    start = 0
    query = 0
    while query < len(prefixes):
        prefix = prefixes[query]
        start = _first_at_least(segment, start, prefix, prefix_mask)
        stop = start
        while stop < len(segment) and (segment[stop] & prefix_mask) == prefix:
            stop += 1
        while query < len(prefixes) and prefixes[query] == prefix:
            row = rows_of_prefixes[query]
            for entry in range(start, stop):
                position = np.int64(segment[entry] & position_mask)
                if position < saved_rows:  # two calls, not one array: saved is read-only, added is not
                    equal = _equal_slots(signatures, row, saved, position)
                else:
                    equal = _equal_slots(signatures, row, added, position - saved_rows)
                if equal >= min_equal and (equal > best_equal[row] or (equal == best_equal[row] and position < best_position[row])):
                    best_equal[row] = equal
                    best_position[row] = position
            query += 1


_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def splitmix_scores_below(hashes: np.ndarray, key: np.uint64, bound: np.uint64, indices: np.ndarray,
                          scores: np.ndarray) -> int:
    """Score every candidate, SplitMix64's finalizer of (hash ^ key), in one pass, and keep those
    below `bound` in indices/scores (up to their length). Returns how many were below: more than the
    buffers hold means they hold only the first ones. (Generation's seed ranking: 466k candidates per
    call in 0.85 ms, against 2.86 ms for numpy's in-place passes.)"""
    found = 0
    for i in range(len(hashes)):
        value = (hashes[i] ^ key) + _SPLITMIX_GAMMA
        value = (value ^ (value >> np.uint64(30))) * _SPLITMIX_MIX1
        value = (value ^ (value >> np.uint64(27))) * _SPLITMIX_MIX2
        value ^= value >> np.uint64(31)
        if value < bound:
            if found < len(indices):
                indices[found] = i
                scores[found] = value
            found += 1
    return found
