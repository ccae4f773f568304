"""The benchmarks' LaMini-shaped rows: the same rows every time, in LaMini's per-source shares."""

from lamini_assets.dataset.synthetic import LAMINI_SOURCE_ROWS, LAMINI_TOTAL_ROWS, synthetic_dataset


def test_synthetic_rows_are_reproducible_at_a_million_rows() -> None:
    # DuckDB builds them on several threads: without an ORDER BY the rows came back in another order
    # on each call, and a warm benchmark rerun met a different seed file.
    first, second = synthetic_dataset(1_000_000, seed=0), synthetic_dataset(1_000_000, seed=0)
    assert first.equals(second)
    counts = dict(first.group_by("instruction_source").len().iter_rows())
    for source, rows in LAMINI_SOURCE_ROWS.items():
        assert abs(counts[source] - rows * 1_000_000 / LAMINI_TOTAL_ROWS) <= 1
