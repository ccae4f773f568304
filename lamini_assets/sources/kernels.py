"""Byte loops the loaders and the seed SQL models run over whole Arrow string columns, compiled by
numba (`nogil`, so they run beside Polars and DuckDB threads).

- `blake2b_8_hex`: hashlib's blake2b(digest_size=8).hexdigest() of every string of a column, bit for
  bit (RFC 7693; tests compare it with hashlib on real and random Unicode text). hashlib per row in
  Python cost 3.2 us a row (0.42 s of CPU per 130k FLAN rows); this is ~10x less.
- `count_words`: runs of bytes that are not ASCII whitespace (space, \\t \\n \\v \\f \\r): the word
  count `seed_stats` reports, as Python's str.split() counts on ASCII text.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from lamini_assets.kernels import string_buffers

_IV = np.array(
    [
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()


@njit(cache=True, nogil=True, inline="always")
def _rotr(value, bits):  # type: ignore[no-untyped-def]
    return (value >> np.uint64(bits)) | (value << np.uint64(64 - bits))


@njit(cache=True, nogil=True, inline="always")
def _mix(a, b, c, d, x, y):  # type: ignore[no-untyped-def]
    a = a + b + x
    d = _rotr(d ^ a, 32)
    c = c + d
    b = _rotr(b ^ c, 24)
    a = a + b + y
    d = _rotr(d ^ a, 16)
    c = c + d
    b = _rotr(b ^ c, 63)
    return a, b, c, d


@njit(cache=True, nogil=True)
def _compress(h, m, counter, last, iv):  # type: ignore[no-untyped-def]
    # The state in locals and the twelve rounds written out with constant message indices, so LLVM
    # keeps the state in registers: a loop over rows of a sigma table ran at 0.5 us a block, slower
    # than hashlib; this runs at ~0.1 us.
    v0, v1, v2, v3, v4, v5, v6, v7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    v8, v9, v10, v11, v12, v13, v14, v15 = iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], iv[7]
    v12 ^= np.uint64(counter)
    if last:
        v14 = ~v14
    # round 0
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[0], m[1])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[2], m[3])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[4], m[5])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[6], m[7])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[8], m[9])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[10], m[11])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[12], m[13])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[14], m[15])
    # round 1
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[14], m[10])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[4], m[8])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[9], m[15])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[13], m[6])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[1], m[12])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[0], m[2])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[11], m[7])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[5], m[3])
    # round 2
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[11], m[8])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[12], m[0])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[5], m[2])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[15], m[13])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[10], m[14])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[3], m[6])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[7], m[1])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[9], m[4])
    # round 3
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[7], m[9])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[3], m[1])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[13], m[12])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[11], m[14])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[2], m[6])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[5], m[10])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[4], m[0])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[15], m[8])
    # round 4
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[9], m[0])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[5], m[7])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[2], m[4])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[10], m[15])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[14], m[1])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[11], m[12])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[6], m[8])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[3], m[13])
    # round 5
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[2], m[12])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[6], m[10])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[0], m[11])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[8], m[3])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[4], m[13])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[7], m[5])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[15], m[14])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[1], m[9])
    # round 6
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[12], m[5])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[1], m[15])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[14], m[13])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[4], m[10])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[0], m[7])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[6], m[3])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[9], m[2])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[8], m[11])
    # round 7
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[13], m[11])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[7], m[14])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[12], m[1])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[3], m[9])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[5], m[0])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[15], m[4])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[8], m[6])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[2], m[10])
    # round 8
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[6], m[15])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[14], m[9])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[11], m[3])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[0], m[8])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[12], m[2])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[13], m[7])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[1], m[4])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[10], m[5])
    # round 9
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[10], m[2])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[8], m[4])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[7], m[6])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[1], m[5])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[15], m[11])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[9], m[14])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[3], m[12])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[13], m[0])
    # round 10
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[0], m[1])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[2], m[3])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[4], m[5])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[6], m[7])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[8], m[9])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[10], m[11])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[12], m[13])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[14], m[15])
    # round 11
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[14], m[10])
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[4], m[8])
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[9], m[15])
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[13], m[6])
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[1], m[12])
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[0], m[2])
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[11], m[7])
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[5], m[3])
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


@njit(cache=True, nogil=True)
def _hash_hex(data, start, length, iv, hex_digits, out, at, h, block, padded):  # type: ignore[no-untyped-def]
    """out[at : at+16] = blake2b(data[start : start+length], digest_size=8) in hex."""
    for i in range(8):
        h[i] = iv[i]
    h[0] ^= np.uint64(0x01010008)  # digest length 8, no key, fanout 1, depth 1
    position = 0
    # Every full block but the last is compressed as is; the last (possibly empty) block is padded.
    while length - position > 128:
        for i in range(16):
            word = np.uint64(0)
            base = start + position + 8 * i
            for k in range(8):
                word |= np.uint64(data[base + k]) << np.uint64(8 * k)
            block[i] = word
        position += 128
        _compress(h, block, position, False, iv)
    remaining = length - position
    for k in range(128):
        padded[k] = data[start + position + k] if k < remaining else 0
    for i in range(16):
        word = np.uint64(0)
        for k in range(8):
            word |= np.uint64(padded[8 * i + k]) << np.uint64(8 * k)
        block[i] = word
    _compress(h, block, length, True, iv)
    digest = h[0]
    for k in range(8):
        byte = (digest >> np.uint64(8 * k)) & np.uint64(0xFF)
        out[at + 2 * k] = hex_digits[byte >> np.uint64(4)]
        out[at + 2 * k + 1] = hex_digits[byte & np.uint64(0xF)]


@njit(cache=True, nogil=True)
def _blake2b_8_hex(offsets, data, iv, hex_digits, out):  # type: ignore[no-untyped-def]
    h = np.empty(8, dtype=np.uint64)
    block = np.empty(16, dtype=np.uint64)
    padded = np.empty(128, dtype=np.uint8)
    for row in range(offsets.shape[0] - 1):
        _hash_hex(data, offsets[row], offsets[row + 1] - offsets[row], iv, hex_digits, out, 16 * row, h, block, padded)


@njit(cache=True, nogil=True, inline="always")
def _normalise_ascii(data, start, end, key, length):  # type: ignore[no-untyped-def]
    """Append normalise_text of ASCII bytes to key[length:]; returns the new length. Whitespace
    (\\s on ASCII: \\t-\\r, \\x1c-\\x1f, space) runs become one space, none at either end; A-Z lower."""
    begun = length
    pending_space = False
    for i in range(start, end):
        byte = data[i]
        if byte == 32 or (byte >= 9 and byte <= 13) or (byte >= 28 and byte <= 31):
            pending_space = True
            continue
        if pending_space and length > begun:
            key[length] = 32
            length += 1
        pending_space = False
        key[length] = byte + 32 if byte >= 65 and byte <= 90 else byte
        length += 1
    return length


@njit(cache=True, nogil=True)
def _instruction_ids(instruction_offsets, instruction_data, input_offsets, input_data, iv, hex_digits, out, unicode_rows,
                     first, stop):  # type: ignore[no-untyped-def]
    """Rows first..stop-1 (threads take disjoint ranges of the same output)."""
    longest = 0
    for row in range(first, stop):
        size = instruction_offsets[row + 1] - instruction_offsets[row] + input_offsets[row + 1] - input_offsets[row]
        longest = max(longest, size)
    key = np.empty(longest + 1, dtype=np.uint8)
    h = np.empty(8, dtype=np.uint64)
    block = np.empty(16, dtype=np.uint64)
    padded = np.empty(128, dtype=np.uint8)
    for row in range(first, stop):
        unicode = False
        for i in range(instruction_offsets[row], instruction_offsets[row + 1]):
            unicode |= instruction_data[i] >= 128
        for i in range(input_offsets[row], input_offsets[row + 1]):
            unicode |= input_data[i] >= 128
        unicode_rows[row] = unicode
        if unicode:  # NFKC and casefold matter: make_instruction_id in Python
            continue
        length = _normalise_ascii(instruction_data, instruction_offsets[row], instruction_offsets[row + 1], key, 0)
        key[length] = 0x1F
        length = _normalise_ascii(input_data, input_offsets[row], input_offsets[row + 1], key, length + 1)
        _hash_hex(key, 0, length, iv, hex_digits, out, 16 * row, h, block, padded)


@njit(cache=True, nogil=True)
def _count_words(offsets, data, out):  # type: ignore[no-untyped-def]
    for row in range(out.shape[0]):
        words = 0
        after_space = 1  # a word starts at a non-space byte after a space or at the start
        for i in range(offsets[row], offsets[row + 1]):
            byte = data[i]
            space = (byte == 32) | (np.uint8(byte - 9) <= 4)  # branch-free: 2x faster than if/else
            words += after_space & (1 - space)
            after_space = space
        out[row] = words


def blake2b_8_hex(texts: pl.Series) -> pl.Series:
    """hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest() of every (non-null) text."""
    assert texts.null_count() == 0, "blake2b_8_hex hashes text, not nulls"
    offsets, data = string_buffers(texts.to_arrow(compat_level=pl.CompatLevel.oldest()))
    rows = len(offsets) - 1
    out = np.empty(16 * rows, dtype=np.uint8)
    _blake2b_8_hex(offsets, data, _IV, _HEX, out)
    return _hex_series(out, rows).alias(texts.name)


def ascii_instruction_ids(instruction: pl.Series, input_text: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """make_instruction_id of every row whose instruction and input are ASCII, in one pass (normalise,
    join with \\x1f, hash), and a mask of the other rows, whose ids the caller computes (their
    entries here are not ids)."""
    assert instruction.null_count() == 0 and input_text.null_count() == 0
    instruction_offsets, instruction_data = string_buffers(instruction.to_arrow(compat_level=pl.CompatLevel.oldest()))
    input_offsets, input_data = string_buffers(input_text.to_arrow(compat_level=pl.CompatLevel.oldest()))
    rows = len(instruction_offsets) - 1
    out = np.zeros(16 * rows, dtype=np.uint8)
    unicode_rows = np.zeros(rows, dtype=np.bool_)

    def run(first: int, stop: int) -> None:
        _instruction_ids(instruction_offsets, instruction_data, input_offsets, input_data, _IV, _HEX, out,
                         unicode_rows, first, stop)

    # blake2b's compression is most of the work (~0.5 us a 128-byte block, as in hashlib's C): the
    # kernel releases the GIL, so halves of a large column run on two cores.
    threads = min(2, os.cpu_count() or 1) if rows >= 50_000 else 1
    bounds = [rows * part // threads for part in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, bounds[:-1], bounds[1:]))
    return _hex_series(out, rows), unicode_rows


def _hex_series(out: np.ndarray, rows: int) -> pl.Series:
    hex_offsets = np.arange(0, 16 * rows + 1, 16, dtype=np.int64)
    array = pa.Array.from_buffers(pa.large_string(), rows, [None, pa.py_buffer(hex_offsets), pa.py_buffer(out)])
    return pl.Series("instruction_id", array, dtype=pl.String)


def count_words(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Words of every string (null for null): runs of bytes other than ASCII whitespace."""
    offsets, data = string_buffers(column)
    out = np.empty(len(offsets) - 1, dtype=np.int32)
    _count_words(offsets, data, out)
    if column.null_count:
        return pa.array(out, mask=column.is_null().to_numpy(zero_copy_only=False))
    return pa.array(out)


# Why `json_safe_for_polars` refused a file (0: it did not).
SCAN_OK, SCAN_BLANK, SCAN_NUL, SCAN_UTF8, SCAN_SURROGATE, SCAN_NON_STRING, SCAN_ODD_KEY, SCAN_RAW_NEWLINE = range(8)
SCAN_REASONS = ["ok", "blank line or no content", "NUL byte", "not valid UTF-8", "lone surrogate escape",
                "a text field not a string (or a list field not a list)", "escaped key", "raw newline inside a string"]


# Bytes that end a run of plain string text: quote, backslash, newline, NUL, non-ASCII.
_STRING_STOPS = np.zeros(256, dtype=np.bool_)
_STRING_STOPS[[34, 92, 10, 0]] = True
_STRING_STOPS[0x80:] = True


@njit(cache=True, nogil=True, inline="always")
def _hex_value(byte):  # type: ignore[no-untyped-def]
    if byte >= 48 and byte <= 57:
        return byte - 48
    if byte >= 97 and byte <= 102:
        return byte - 87
    if byte >= 65 and byte <= 70:
        return byte - 55
    return -1


@njit(cache=True, nogil=True, inline="always")
def _escape_code(data, at, end):  # type: ignore[no-untyped-def]
    """The code unit of a \\uXXXX escape whose backslash is at data[at], or -1."""
    if at + 5 >= end or data[at + 1] != 117:  # a "u"
        return -1
    code = 0
    for k in range(2, 6):
        digit = _hex_value(data[at + k])
        if digit < 0:
            return -1
        code = code * 16 + digit
    return code


@njit(cache=True, nogil=True, inline="always")
def _utf8_length(data, at, end):  # type: ignore[no-untyped-def]
    """Bytes of the UTF-8 sequence starting at a non-ASCII byte, or 0 when it is not strict UTF-8
    (Python's decoder: no overlong forms, no surrogates, nothing above U+10FFFF)."""
    lead = data[at]
    if lead >= 0xC2 and lead <= 0xDF:
        size, low, high = 2, 0x80, 0xBF
    elif lead == 0xE0:
        size, low, high = 3, 0xA0, 0xBF
    elif (lead >= 0xE1 and lead <= 0xEC) or lead == 0xEE or lead == 0xEF:
        size, low, high = 3, 0x80, 0xBF
    elif lead == 0xED:
        size, low, high = 3, 0x80, 0x9F
    elif lead == 0xF0:
        size, low, high = 4, 0x90, 0xBF
    elif lead >= 0xF1 and lead <= 0xF3:
        size, low, high = 4, 0x80, 0xBF
    elif lead == 0xF4:
        size, low, high = 4, 0x80, 0x8F
    else:
        return 0
    if at + size > end:
        return 0
    if data[at + 1] < low or data[at + 1] > high:
        return 0
    for k in range(2, size):
        if data[at + k] < 0x80 or data[at + k] > 0xBF:
            return 0
    return size


@njit(cache=True, nogil=True)
def _json_scan(data, names, name_offsets, list_names, lines, stops):  # type: ignore[no-untyped-def]
    """One pass over a JSON(L) file's bytes: SCAN_OK when Polars reads it as json.loads would (see
    sources/columnar.py), else the SCAN_* reason. Tracks JSON strings, so a key is known as a key:
    a key named in `names` (at any depth) must hold a string or null; one whose index in `names` is
    at least `list_names`, a list or null."""
    end = data.shape[0]
    in_string = False
    string_start = 0
    escaped_string = False
    line_blank = True
    any_content = False
    i = 0
    while i < end:
        if in_string:  # the bulk of the bytes: skip plain text in a tight loop
            while i < end and not stops[data[i]]:
                i += 1
            if i == end:
                break
        byte = data[i]
        if byte >= 0x80:
            size = _utf8_length(data, i, end)
            if size == 0:
                return SCAN_UTF8
            line_blank = False
            any_content = True
            i += size
            continue
        if byte == 0:
            return SCAN_NUL
        if byte == 10:  # a raw newline: a row ends (a string cannot hold one)
            if in_string:
                return SCAN_RAW_NEWLINE
            if lines and line_blank:
                return SCAN_BLANK
            line_blank = True
            i += 1
            continue
        if not (byte == 32 or byte == 9 or byte == 13 or byte == 11 or byte == 12):
            line_blank = False
            any_content = True
        if in_string:
            if byte == 92:  # backslash
                escaped_string = True
                code = _escape_code(data, i, end)
                if code >= 0xD800 and code <= 0xDBFF:
                    low = _escape_code(data, i + 6, end) if i + 6 < end and data[i + 6] == 92 else -1
                    if low < 0xDC00 or low > 0xDFFF:
                        return SCAN_SURROGATE
                    i += 12
                    continue
                if code >= 0xDC00 and code <= 0xDFFF:
                    return SCAN_SURROGATE
                i += 6 if code >= 0 else 2
                continue
            if byte == 34:  # the string ends: a key when a colon follows
                in_string = False
                j = i + 1
                while j < end and (data[j] == 32 or data[j] == 9 or data[j] == 13 or data[j] == 10):
                    j += 1
                if j < end and data[j] == 58:
                    length = i - string_start
                    for name in range(name_offsets.shape[0] - 1):
                        name_start = name_offsets[name]
                        if name_offsets[name + 1] - name_start != length:
                            continue
                        same = True
                        for k in range(length):
                            if data[string_start + k] != names[name_start + k]:
                                same = False
                                break
                        if same:
                            j += 1
                            while j < end and (data[j] == 32 or data[j] == 9 or data[j] == 13 or data[j] == 10):
                                j += 1
                            wanted = 91 if name >= list_names else 34  # '[' or '"'
                            if j < end and data[j] != wanted and data[j] != 110:  # or 'n'ull
                                return SCAN_NON_STRING
                            break
                    if escaped_string:  # \u escapes could spell a text field's name
                        return SCAN_ODD_KEY
            i += 1
            continue
        if byte == 34:
            in_string = True
            string_start = i + 1
            escaped_string = False
        i += 1
    if lines and line_blank:  # the last line (the file's final newline is not in `data`)
        return SCAN_BLANK
    if not any_content:
        return SCAN_BLANK
    return SCAN_OK


def json_scan(body: bytes, text_fields: list[str], *, lines: bool, list_fields: tuple[str, ...] = ()) -> int:
    """SCAN_OK when Polars reads `body` (a file's bytes without BOM and final newline) as json.loads
    would, else the SCAN_* reason. `text_fields`: keys that must hold a string or null; `list_fields`:
    keys that must hold a list or null (read as JSON text, then decoded)."""
    data = np.frombuffer(body, dtype=np.uint8)
    encoded = [field.encode("utf-8") for field in [*text_fields, *list_fields]]
    names = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
    name_offsets = np.cumsum([0] + [len(name) for name in encoded]).astype(np.int64)
    return int(_json_scan(data, names, name_offsets, len(text_fields), lines, _STRING_STOPS))
