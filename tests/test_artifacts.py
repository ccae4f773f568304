"""The local artifact store: atomic writes, immutable published folders, no half-built folder after a crash."""

from pathlib import Path

import pytest

from lamini_assets.artifacts import LocalArtifactStore


def test_publish_dir_is_all_or_nothing(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)

    def crash(folder: Path) -> None:
        (folder / "part.parquet").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.publish_dir("lamini_dataset/v1", crash)
    assert not store.exists("lamini_dataset/v1")
    assert list((tmp_path / "lamini_dataset").iterdir()) == []  # no staging folder left behind

    store.publish_dir("lamini_dataset/v1", lambda folder: (folder / "a.txt").write_text("one"))
    store.publish_dir("lamini_dataset/v1", lambda folder: (folder / "a.txt").write_text("two"))
    assert (tmp_path / "lamini_dataset/v1/a.txt").read_text() == "one"  # published folders never change
    with store.local_dir("lamini_dataset/v1") as folder:
        assert (folder / "a.txt").read_text() == "one"
    with pytest.raises(FileNotFoundError):
        with store.local_dir("lamini_dataset/v2"):
            pass


def test_write_bytes_replaces_atomically_and_keys_stay_inside(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.write_bytes("lamini_dataset/latest", b"v1")
    store.write_bytes("lamini_dataset/latest", b"v2")
    assert store.read_bytes("lamini_dataset/latest") == b"v2"
    assert [p.name for p in (tmp_path / "lamini_dataset").iterdir()] == ["latest"]
    with pytest.raises(ValueError):
        store.path("../outside")


def test_parquet_dataset_is_scanned_by_duckdb_in_place(tmp_path: Path) -> None:
    import duckdb
    import polars as pl

    store = LocalArtifactStore(tmp_path)
    frame = pl.DataFrame({"source": ["alpaca", "p3", "alpaca"], "n": [1, 2, 3]})
    store.publish_dir("v1", lambda folder: frame.write_parquet(folder / "rows.parquet"))
    dataset = store.parquet_dataset("v1/rows.parquet")  # noqa: F841  (DuckDB reads the local by name)
    with duckdb.connect() as conn:
        assert conn.execute("select source, sum(n) from dataset group by 1 order by 1").fetchall() == [("alpaca", 4), ("p3", 2)]
