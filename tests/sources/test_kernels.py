"""The numba kernels give hashlib's and Python's results exactly: ids are the cache keys of every
dataset version, so equality is checked bit for bit, across blake2b block boundaries and Unicode."""

from __future__ import annotations

import hashlib
import random

import duckdb
import polars as pl
import pyarrow as pa

from lamini_assets.schema import make_instruction_id
from lamini_assets.sources.columnar import instruction_ids
from lamini_assets.sources.kernels import blake2b_8_hex, count_words
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
