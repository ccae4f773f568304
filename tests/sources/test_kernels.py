"""The numba kernels give hashlib's and Python's results exactly: ids are the cache keys of every
dataset version, so equality is checked bit for bit, across blake2b block boundaries and Unicode."""

from __future__ import annotations

import hashlib
import random

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from lamini_assets.schema import make_instruction_id
from lamini_assets.sources.columnar import instruction_ids
from lamini_assets.sources.kernels import (
    SCAN_BLANK,
    SCAN_NON_STRING,
    SCAN_NUL,
    SCAN_ODD_KEY,
    SCAN_OK,
    SCAN_RAW_NEWLINE,
    SCAN_REASONS,
    SCAN_SURROGATE,
    SCAN_UTF8,
    blake2b_8_hex,
    count_words,
    json_scan,
)
from lamini_assets.sql_functions import register_sql_functions


def test_blake2b_equals_hashlib_across_block_boundaries() -> None:
    rng = random.Random(3)
    alphabet = "aZ 9\t\n\x1f\x00éß中😀\u0301"
    texts = ["x" * n for n in range(0, 400)] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 700))) for _ in range(5_000)
    ]
    got = blake2b_8_hex(pl.Series(texts)).to_list()
    assert got == [hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest() for text in texts]


def test_long_instruction_ids_equal_make_instruction_id() -> None:
    """Realistic lengths (one to several 128-byte blocks), mostly ASCII, some Unicode rows."""
    rng = random.Random(4)
    words = ["Explain", "the", "RIVER", "data\tset", "two  spaces", "line\nbreak", "x\x1cy", "\x0bv", "naïve", "Straße"]
    texts = [" ".join(rng.choice(words[:8] if rng.random() < 0.8 else words) for _ in range(rng.randint(0, 90)))
             for _ in range(8_000)]
    inputs = [rng.choice(["", " ", "Some  INPUT\ttext", *texts[:20]]) for _ in texts]
    got = instruction_ids(pl.Series(texts), pl.Series(inputs)).to_list()
    assert got == [make_instruction_id(text, extra) for text, extra in zip(texts, inputs)]


def test_word_count_counts_ascii_whitespace_runs() -> None:
    rng = random.Random(5)
    alphabet = ["w", "Word", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "é", "中", ",", "."]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(5_000)]
    assert count_words(pa.array(texts)).to_pylist() == [len(text.split()) for text in texts]
    assert count_words(pa.array(["a b", None, ""])).to_pylist() == [2, None, 0]
    connection = duckdb.connect()
    register_sql_functions(connection)
    register_sql_functions(connection)  # a second registration on the same connection is a no-op
    counted = connection.execute("select word_count(text) from unnest(?) as t(text)", [texts]).fetchall()
    assert [count for (count,) in counted] == [len(text.split()) for text in texts]


FIELDS = ["inputs", "targets"]


@pytest.mark.parametrize(
    ("body", "lines", "reason"),
    [
        (b'{"inputs":"a","targets":"b"}\n{"inputs": "c", "targets": null, "n": 5}', True, SCAN_OK),
        (b'{"inputs":"say \\"inputs\\": 5","targets":"\\\\ud800 is text"}', True, SCAN_OK),  # escaped, not keys
        (b'{"inputs":"pair \\ud83d\\ude00","targets":"x"}', True, SCAN_OK),
        (b'{"meta":{"inputs":"nested"},"targets":"x"}', True, SCAN_OK),
        (b'[\n  {"inputs": "a",\n   "targets": "b"}\n]', False, SCAN_OK),
        (b'{"inputs":"a"}\n\n{"inputs":"b"}', True, SCAN_BLANK),
        (b'{"inputs":"a"}\n \t\r', True, SCAN_BLANK),
        (b' \n{"inputs":"a"}', True, SCAN_BLANK),
        (b" \t\r\n ", False, SCAN_BLANK),
        (b'{"inputs":"a\x00"}', True, SCAN_NUL),
        (b'{"inputs":"caf\xe9"}', True, SCAN_UTF8),
        (b'{"inputs":"\xed\xa0\x80"}', True, SCAN_UTF8),  # a surrogate encoded in UTF-8
        (b'{"inputs":"lone \\ud800 high"}', True, SCAN_SURROGATE),
        (b'{"inputs":"lone \\uDC00 low"}', True, SCAN_SURROGATE),
        (b'{"inputs":"x","targets":5}', True, SCAN_NON_STRING),
        (b'{"inputs" :\t[1],"targets":"x"}', True, SCAN_NON_STRING),
        (b'{"meta":{"targets":{"a":"b"}},"inputs":"x"}', True, SCAN_NON_STRING),  # any depth, as Polars cannot tell
        (b'{"in\\u0070uts":5}', True, SCAN_ODD_KEY),
        (b'{"inputs":"a\nb"}', True, SCAN_RAW_NEWLINE),
    ],
)
def test_json_scan_refuses_what_polars_would_read_differently(body: bytes, lines: bool, reason: int) -> None:
    assert SCAN_REASONS[json_scan(body, FIELDS, lines=lines)] == SCAN_REASONS[reason]


def test_json_scan_utf8_verdict_equals_pythons_decoder() -> None:
    rng = random.Random(6)
    pieces = [b"a", b" ", "é".encode(), "中".encode(), "😀".encode(), b"\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80",
              b"\xf4\x90\x80\x80", b"\xf0\x9f", b"\xc3", b"\xff", b"\xef\xbf\xbf"]
    for _ in range(20_000):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        try:
            text.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        verdict = json_scan(b'{"inputs":"' + text + b'"}', FIELDS, lines=True)
        assert verdict == (SCAN_OK if valid else SCAN_UTF8), text


def test_json_scan_list_fields_hold_lists() -> None:
    ok = b'{"instances":[{"inputs":"a"}]}\n{"instances": null}'
    assert json_scan(ok, FIELDS, lines=True, list_fields=("instances",)) == SCAN_OK
    as_text = b'{"instances":"[{\\"inputs\\":\\"a\\"}]"}'  # JSON text in a string is no list
    assert json_scan(as_text, FIELDS, lines=True, list_fields=("instances",)) == SCAN_NON_STRING


def test_instruction_ids_of_a_column_split_over_threads() -> None:
    """From 50,000 rows the kernel runs on two threads, each on its own range of rows."""
    rng = random.Random(8)
    words = ["alpha", "Beta", "gamma\t", "DELTA", "ε"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))) for _ in range(60_000)]
    inputs = ["" if index % 3 else f"input {index}" for index in range(len(texts))]
    got = instruction_ids(pl.Series(texts), pl.Series(inputs)).to_list()
    assert got == [make_instruction_id(text, extra) for text, extra in zip(texts, inputs)]
