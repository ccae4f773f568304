"""Incremental near-duplicate filtering: is a new instruction novel against everything kept so far?

Two methods behind one interface (`NoveltyIndex`), picked by `NoveltyConfig.method`:

- `minhash`: MinHash signatures of word shingles of the normalised text, in a banded LSH index.
  Texts are normalised by Polars; words are found and shingles hashed and permuted by numba kernels
  (`lamini_assets/kernels.py`; Polars' regex finds the words of non-ASCII texts), in parallel threads over
  chunks of rows. The scheme and permutation parameters are datasketch's "affine32", so the
  signatures equal what `datasketch.MinHash.update_batch` makes from the same shingles with
  `hashfunc=MinHashSigner.shingle_hash`; the bands are the ones datasketch's `MinHashLSH` picks for
  the threshold. LSH candidates are confirmed by their estimated Jaccard similarity before a row is
  called a duplicate.
- `rouge_l`: exact Self-Instruct/Alpaca behaviour: ROUGE-L F-measure of the candidate against every
  kept instruction, dropped when the best score is above the threshold (0.7). Quadratic: for parity
  checks and small pools only.

Both add novel candidates to the index, so a later candidate is compared with them too without
re-scanning anything. A saved index is a folder of numpy arrays, memory-mapped when reloaded: a
reload reads its metadata and nothing else until rows are looked up.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
import shutil
import threading
import unicodedata
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal, overload

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

_WORD_PATTERN = r"\w+"
_WORD = re.compile(_WORD_PATTERN)
# A saved index records how its shingles were hashed and is rebuilt under another hash.
_SHINGLE_HASH = "fnv1a64-folded32"  # kernels.hash_byte_ranges of the shingle's UTF-8 bytes
_FORMAT = "lamini-novelty-index@4"  # @3: text fingerprints beside the signatures; @4: FNV shingle hash
_ROWS_PER_TASK = 10_000  # rows signed per thread task
# Rows signed and checked per numpy pass, and candidate pairs compared at once (memory bounds).
_ROWS_PER_CHUNK = 20_000
_POOL_ROWS_PER_SEGMENT = 200_000
_PAIRS_PER_COMPARISON = 50_000


class NoveltyConfig(BaseModel):
    """How near-duplicates are found. Defaults were tuned in bench/novelty_filter.py to recall
    >= 0.9 of what Self-Instruct's ROUGE-L > 0.7 rule drops on real instructions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["minhash", "rouge_l"] = "minhash"
    minhash_threshold: float = Field(0.5, gt=0.0, le=1.0)  # estimated Jaccard at or above: duplicate
    rouge_l_threshold: float = Field(0.7, ge=0.0, le=1.0)  # ROUGE-L F above: duplicate (Self-Instruct)
    num_perm: int = Field(128, ge=16, le=1024)  # MinHash permutations
    shingle_size: int = Field(1, ge=1, le=5)  # words per shingle
    seed: int = 1  # seed of the MinHash permutations


Texts = Sequence[str] | pl.Series


def _as_series(texts: Texts) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.String).fill_null("")
    return pl.Series("text", list(texts), dtype=pl.String).fill_null("")


class IdList(Sequence[str]):
    """Row ids in the order they were indexed: a saved (memory-mapped, UTF-8 bytes) array, then the
    ids added since in a list. Reading one id decodes only that id."""

    def __init__(self, saved: np.ndarray | None = None) -> None:
        self._saved = saved if saved is not None else np.empty(0, dtype="S1")
        self._added: list[str] = []

    def __len__(self) -> int:
        return len(self._saved) + len(self._added)

    @overload
    def __getitem__(self, position: int) -> str: ...
    @overload
    def __getitem__(self, position: slice) -> list[str]: ...
    def __getitem__(self, position: int | slice) -> str | list[str]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        saved = len(self._saved)
        return self._saved[position].decode("utf-8") if position < saved else self._added[position - saved]

    def __iter__(self) -> Iterator[str]:
        yield from (value.decode("utf-8") for value in self._saved)
        yield from self._added

    def extend(self, ids: Sequence[str]) -> None:
        self._added.extend(ids)

    def append(self, row_id: str) -> None:
        self._added.append(row_id)

    def series(self) -> pl.Series:
        """All ids as a Polars string column (vectorised decoding of the saved part)."""
        saved = pl.Series("id", [], dtype=pl.String)
        if len(self._saved):
            # Zero-copy: the fixed-width bytes as an Arrow array (numpy pads short ids with NULs).
            width = self._saved.dtype.itemsize
            fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(self._saved), [None, pa.py_buffer(self._saved)])
            saved = pl.Series("id", pl.from_arrow(fixed)).cast(pl.Binary).cast(pl.String).str.strip_chars_end("\x00")
        return pl.concat([saved, pl.Series("id", self._added, dtype=pl.String)])

    def array(self) -> np.ndarray:
        """All ids as one fixed-width bytes array, the form they are saved in."""
        added = np.array([row_id.encode("utf-8") for row_id in self._added], dtype=np.bytes_)
        if not len(self._saved):
            return added if len(added) else np.empty(0, dtype="S1")
        return np.concatenate([self._saved, added]) if len(added) else np.asarray(self._saved)


class GrowingRows:
    """A 2-D uint32 array that grows: rows of a saved index (memory-mapped, read-only, paged in
    only where looked up) followed by rows added since, in an array that grows in place."""

    def __init__(self, width: int, saved: np.ndarray | None = None) -> None:
        self.width = width
        self._saved = saved if saved is not None else np.empty((0, width), dtype=np.uint32)
        self._added = np.empty((1024, width), dtype=np.uint32)
        self._count = 0

    def __len__(self) -> int:
        return len(self._saved) + self._count

    def append(self, rows: np.ndarray) -> None:
        needed = self._count + len(rows)
        if needed > len(self._added):
            # In-place realloc: large arrays grow by remapping pages, without a second copy in memory.
            self._added.resize((max(needed, len(self._added) * 5 // 4), self.width), refcheck=False)
        self._added[self._count : needed] = rows
        self._count = needed

    def take(self, positions: np.ndarray) -> np.ndarray:
        saved = len(self._saved)
        if not self._count:
            return self._saved[positions]
        if not saved:
            return self._added[positions]
        out = np.empty((len(positions), self.width), dtype=np.uint32)
        in_saved = positions < saved
        out[in_saved] = self._saved[positions[in_saved]]
        out[~in_saved] = self._added[positions[~in_saved] - saved]
        return out

    def parts(self) -> list[np.ndarray]:
        return [self._saved, self._added[: self._count]]

    def release_saved_pages(self) -> None:
        """Drop the saved rows' pages from this process's resident memory (the OS keeps them in its page
        cache): after a bulk read of a memory-mapped index they would otherwise all count towards the
        step's peak RSS (1.2 GB of signatures at LaMini's size)."""
        mapping = getattr(self._saved, "_mmap", None)
        if mapping is not None:
            mapping.madvise(mmap.MADV_DONTNEED)


class NoveltyIndex(ABC):
    """Everything kept so far; answers whether a new text is novel and remembers it if so."""

    def __init__(self, config: NoveltyConfig) -> None:
        self.config = config
        self._ids = IdList()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> IdList:
        """The ids indexed so far, pool first, in the order they were added."""
        return self._ids

    @abstractmethod
    def add_pool(self, ids: Sequence[str], texts: Texts) -> None:
        """Index existing rows unconditionally (the pool new rows must differ from)."""

    @abstractmethod
    def check_and_add_batch(self, ids: Sequence[str], texts: Texts) -> list[tuple[bool, str | None]]:
        """For each candidate in order: (is_novel, id of the near-duplicate or None).
        Novel candidates are added, so later candidates in the same batch are checked against them."""

    @abstractmethod
    def add_group(self, ids: Sequence[str], texts: Texts, known: NoveltyIndex | None = None) -> list[str | None]:
        """Rows of one group (e.g. one dataset source), each judged only against the rows indexed
        before the call, never against the rest of its group: the id of its nearest near-duplicate,
        or None. The rows judged novel are added; the others are not. `known`: an index whose work
        on the same exact texts may be reused (MinHash signatures); the answers do not change."""

    def check_and_add(self, row_id: str, text: str) -> tuple[bool, str | None]:
        """(is_novel, id of the near-duplicate or None); a novel candidate is added."""
        return self.check_and_add_batch([row_id], [text])[0]

    @abstractmethod
    def _write_arrays(self, folder: Path) -> dict[str, object]:
        """Write the method's arrays into `folder`; returns what the metadata must record of them."""

    @abstractmethod
    def _read_arrays(self, folder: Path, meta: dict[str, object]) -> None:
        """Attach the arrays `_write_arrays` wrote (memory-mapped where they are numpy arrays)."""

    def save(self, path: str | Path) -> None:
        """Save the index as a folder of numpy arrays at `path`, atomically.

        Each save writes a new folder `<path>.<random>` and then points the symlink `path` at it
        with one rename, so a reader sees the old index or the new one, never half of one; a reader
        that memory-mapped the old one keeps reading it after its folder is removed.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}")
        folder.mkdir()
        np.save(folder / "ids.npy", self._ids.array())
        meta = {
            "format": _FORMAT,
            "method": self.config.method,
            "config": self.config.model_dump(),
            "shingle_hash": _SHINGLE_HASH,
            "rows": len(self),
            **self._write_arrays(folder),
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        link = path.with_name(f".{path.name}.link-{uuid.uuid4().hex[:12]}")
        os.symlink(folder.name, link)
        if path.exists() and not path.is_symlink():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(link, path)
        for old in path.parent.glob(f"{path.name}.*"):
            # Earlier versions; a folder without meta.json may be another writer's, still being written.
            if old != folder and old.is_dir() and (old / "meta.json").exists():
                shutil.rmtree(old, ignore_errors=True)


def _load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # numpy cannot memory-map an empty array
        return np.load(path)


def load_novelty_index(path: str | Path, config: NoveltyConfig) -> NoveltyIndex:
    """Reload a saved index (memory-mapped: only its metadata is read now); refuses one built with
    a different config or shingle hash, whose answers would differ."""
    path = Path(path)
    meta_path = path / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{meta_path}: not a saved novelty index ({error})") from error
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected {_FORMAT!r}; rebuild it")
    saved_config = NoveltyConfig.model_validate(meta["config"])
    if saved_config != config:
        raise ValueError(f"{path}: index was built with {saved_config!r}, not {config!r}; rebuild it")
    if meta.get("shingle_hash") != _SHINGLE_HASH:
        raise ValueError(f"{path}: shingles were hashed by {meta.get('shingle_hash')}, not {_SHINGLE_HASH}; rebuild it")
    index = make_novelty_index(config)
    index._ids = IdList(_load_array(path / "ids.npy"))
    index._read_arrays(path, meta)
    if len(index) != meta["rows"]:
        raise ValueError(f"{path}: holds {len(index)} ids, its meta.json says {meta['rows']}; rebuild it")
    return index


def make_novelty_index(config: NoveltyConfig) -> NoveltyIndex:
    """An empty index of the configured method."""
    if config.method == "minhash":
        return MinHashNoveltyIndex(config)
    return RougeLNoveltyIndex(config)


def normalised_texts(texts: Texts) -> pl.Series:
    """NFKC (only where a text is not plain ASCII: identity there, and the costly part) and
    lower-cased: the form shingles are made of."""
    series = _as_series(texts)
    non_ascii = (series.str.len_bytes() != series.str.len_chars()).arg_true()
    if len(non_ascii):
        series = series.scatter(non_ascii, series.gather(non_ascii).str.normalize("NFKC"))
    return series.str.to_lowercase()


def word_lists(texts: Texts) -> pl.Series:
    """The `\\w+` words of each normalised text, as a Polars list column."""
    return normalised_texts(texts).str.extract_all(_WORD_PATTERN)


def shingle_words(text: str) -> list[str]:
    """Words of the normalised text, the units shingles are made of."""
    normalised = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    return _WORD.findall(normalised.lower())


def _shingle_lists(texts: Texts, size: int, *, normalised: bool = False) -> pl.Series:
    """Per text, its word n-grams (a text of at most n words is one shingle: its words joined).
    `normalised`: the texts are already `normalised_texts`."""
    words = _as_series(texts).str.extract_all(_WORD_PATTERN) if normalised else word_lists(texts)
    short = words.list.len() <= size
    if size == 1:
        empty = pl.lit([""], dtype=pl.List(pl.String))
        return pl.select(pl.when(words.list.len() == 0).then(empty).otherwise(words)).to_series()
    frame = pl.DataFrame({"words": words, "short": short})
    grams = pl.col("words").list.eval(
        pl.concat_str([pl.element().shift(-k) for k in range(size)], separator=" ").drop_nulls()
    )
    return frame.select(
        pl.when(pl.col("short")).then(pl.concat_list(pl.col("words").list.join(" "))).otherwise(grams)
    ).to_series()


def _string_buffers(strings: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets) of a string column, the order the MinHash kernels take them in."""
    from lamini_assets.kernels import string_buffers

    offsets, data = string_buffers(strings.to_arrow(compat_level=pl.CompatLevel.oldest()))
    return data, offsets


def text_fingerprints(texts: pl.Series) -> np.ndarray:
    """(n, 4) uint32: two 64-bit Polars hashes (seeds 1 and 2) of each exact text. A signature is a
    function of its text alone, so a stored one serves any text of the same fingerprint (a 128-bit
    collision is the only way to get a wrong one)."""
    hashes = np.stack([texts.hash(seed=1).to_numpy(), texts.hash(seed=2).to_numpy()], axis=1)
    return np.ascontiguousarray(hashes, dtype=np.uint64).view(np.uint32)


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch's affine32 `MinHash(num_perm, seed)`: the same draws from the same generator
    (importing datasketch costs ~1.2 s per step process, nearly all of it scipy.integrate)."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


@functools.cache
def lsh_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's `MinHashLSH(threshold, num_perm)` picks: the least
    false-positive plus false-negative probability mass, equally weighted. Its integrals are of
    polynomials of degree at most num_perm, which Gauss-Legendre quadrature with more than num_perm / 2
    nodes integrates exactly (datasketch uses scipy's adaptive quad)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 2)

    def integral(function: Callable[[np.ndarray], np.ndarray], low: float, high: float) -> float:
        points = (high - low) / 2 * nodes + (high + low) / 2
        return float((high - low) / 2 * np.sum(weights * function(points)))

    best, layout = float("inf"), (0, 0)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = integral(lambda s: 1 - (1 - s**rows) ** bands, 0.0, threshold)
            false_negative = integral(lambda s: (1 - s**rows) ** bands, threshold, 1.0)
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best:
                best, layout = error, (bands, rows)
    return layout


class MinHashSigner:
    """Vectorised MinHash signatures identical to datasketch's affine32 `MinHash` fed the same
    shingles with `hashfunc=shingle_hash`."""

    def __init__(self, num_perm: int, seed: int, shingle_size: int) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_size = shingle_size
        from lamini_assets import kernels  # numba: loaded where signing happens, not with the config

        self._a, self._b = affine32_permutations(num_perm, seed)
        self._kernels = kernels

    def shingles(self, text: str) -> list[str]:
        """Word n-grams of the normalised text; a text of at most n words is one shingle."""
        return _shingle_lists([text], self.shingle_size)[0].to_list()

    def shingle_hash(self, shingle: str | bytes) -> int:
        """32-bit hash of one shingle: the `hashfunc` a datasketch MinHash needs to match."""
        data = shingle if isinstance(shingle, bytes) else shingle.encode("utf-8")
        return int(self._kernels.hash_byte_ranges(np.frombuffer(data, dtype=np.uint8), np.array([0, len(data)], dtype=np.int64))[0])

    def signatures(self, texts: Texts) -> np.ndarray:
        """(len(texts), num_perm) uint32 signatures; chunks of rows are signed in parallel threads
        (the kernels and Polars release the GIL)."""
        series = _as_series(texts)
        out = np.empty((len(series), self.num_perm), dtype=np.uint32)
        starts = range(0, len(series), _ROWS_PER_TASK)
        if len(starts) <= 1:
            for start in starts:
                out[start : start + _ROWS_PER_TASK] = self._sign(series.slice(start, _ROWS_PER_TASK))
            return out
        with ThreadPoolExecutor(max_workers=self._kernels.worker_threads()) as pool:
            for start, signed in zip(starts, pool.map(lambda s: self._sign(series.slice(s, _ROWS_PER_TASK)), starts)):
                out[start : start + len(signed)] = signed
        return out

    def _sign(self, texts: pl.Series) -> np.ndarray:
        hashes, counts = self._shingle_hashes(normalised_texts(texts))
        return self._kernels.permuted_minima(self._kernels.fmix32(hashes), counts, self._a, self._b)

    def _shingle_hashes(self, normalised: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, counts) of every row's shingles, rows in order. ASCII rows are split into words by a
        byte scan; the others (Unicode `\\w`) by Polars' regex, their shingles hashed as the same bytes."""
        non_ascii = (normalised.str.len_bytes() != normalised.str.len_chars()).arg_true().to_numpy()
        if not len(non_ascii):
            return self._kernels.ascii_shingle_hashes(*_string_buffers(normalised), self.shingle_size)
        is_ascii = np.ones(len(normalised), dtype=bool)
        is_ascii[non_ascii] = False
        ascii_hashes, ascii_counts = self._kernels.ascii_shingle_hashes(
            *_string_buffers(normalised.filter(pl.Series(is_ascii))), self.shingle_size)
        shingles = _shingle_lists(normalised.gather(non_ascii), self.shingle_size, normalised=True)
        other_counts = shingles.list.len().to_numpy().astype(np.int64)
        other_hashes = self._kernels.hash_byte_ranges(*_string_buffers(shingles.explode()))
        counts = np.empty(len(normalised), dtype=np.int64)
        counts[is_ascii] = ascii_counts
        counts[non_ascii] = other_counts
        # Each row's hashes from its part, in row order.
        hashes = np.empty(int(counts.sum()), dtype=np.uint32)
        row_starts = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=row_starts[1:])
        for part_rows, part_counts, part_hashes in ((np.flatnonzero(is_ascii), ascii_counts, ascii_hashes),
                                                    (non_ascii, other_counts, other_hashes)):
            within = np.arange(len(part_hashes)) - np.repeat(np.cumsum(part_counts) - part_counts, part_counts)
            hashes[np.repeat(row_starts[part_rows], part_counts) + within] = part_hashes
        return hashes, counts


def _fmix64(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


# A bucket entry is one uint64: the top 36 bits of the band's key, then 28 bits of row position.
# Prefix collisions only add candidates, which are confirmed against the signatures anyway
# (about 1 in 1,000 lookups at 2.6M rows); one word per entry sorts with numpy's SIMD sort
# (measured 0.03 s per 2.5M keys against 0.42 s for the stable argsort of separate key and
# position arrays) and takes 8 bytes instead of 12.
_POSITION_BITS = 28
_POSITION_MASK = np.uint64((1 << _POSITION_BITS) - 1)
_MAX_ROWS = 1 << _POSITION_BITS


class MinHashNoveltyIndex(NoveltyIndex):
    """Banded MinHash LSH over sorted numpy arrays.

    The band layout (b bands of r rows) is the one datasketch's `MinHashLSH` picks for the
    threshold. Its buckets are not used: they hold a Python set per bucket (measured: 0.87 GB per
    100K rows at 128 permutations, ~22 GB at LaMini's 2.58M rows). Here each band of each row is
    one uint64 (key prefix and row position) in sorted segments merged like an LSM tree;
    candidates are confirmed against the signatures kept in one growing uint32 matrix.
    """

    def __init__(self, config: NoveltyConfig) -> None:
        super().__init__(config)
        self.signer = MinHashSigner(config.num_perm, config.seed, config.shingle_size)
        self.bands, self.rows_per_band = lsh_layout(config.minhash_threshold, config.num_perm)
        mixers = np.random.default_rng(config.seed).integers(0, 2**63, size=self.rows_per_band + 1, dtype=np.uint64)
        self._row_mixers = mixers[:-1] * np.uint64(2) + np.uint64(1)
        self._band_salts = np.arange(self.bands, dtype=np.uint64) * (mixers[-1] | np.uint64(1))
        self._signatures = GrowingRows(config.num_perm)
        self._fingerprints = GrowingRows(4)  # text_fingerprints of each row, for reuse by other indexes
        # Row count it was built at, first fingerprint halves sorted, their positions, second halves (first lookup)
        self._fingerprint_positions: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.signatures_lent = 0  # signatures other indexes copied from this one (`signed(..., known=self)`)
        self._lending = threading.Lock()  # other indexes' threads borrow signatures concurrently (add_group)
        self._segments: list[np.ndarray] = []  # sorted bucket entries (key prefix | position)
        self._kernels = self.signer._kernels
        # The smallest number of equal signature slots that reaches the threshold.
        self._min_equal = int(np.ceil(config.minhash_threshold * config.num_perm - 1e-9))

    def _band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: one key per band, equal only when the band's r values are equal."""
        banded = signatures[:, : self.bands * self.rows_per_band].reshape(len(signatures), self.bands, self.rows_per_band)
        # One multiply-add per row of the band over (n, bands) arrays: numpy's sum over a short
        # last axis was 10x slower.
        keys = banded[:, :, 0].astype(np.uint64) * self._row_mixers[0]
        for row in range(1, self.rows_per_band):
            keys += banded[:, :, row].astype(np.uint64) * self._row_mixers[row]
        keys += self._band_salts
        return _fmix64(keys)

    def signed(self, texts: Texts, known: NoveltyIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(signatures, text_fingerprints) of `texts`. Signatures `known` (another MinHash index with
        the same signer, e.g. the saved seed-pool index) holds for the same exact text are copied,
        not recomputed: the dataset's cross-source filter re-judges ~2M pool texts the pool index
        signed already."""
        series = _as_series(texts)
        fingerprints = text_fingerprints(series)
        if not isinstance(known, MinHashNoveltyIndex) or not len(known) or not self._same_signer(known):
            return self.signer.signatures(series), fingerprints
        positions = known.positions_of(fingerprints)
        found = positions >= 0
        signatures = np.empty((len(series), self.config.num_perm), dtype=np.uint32)
        if found.any():
            signatures[found] = known._signatures.take(positions[found])
            with known._lending:
                known._signatures.release_saved_pages()
                known.signatures_lent += int(found.sum())
        if not found.all():
            signatures[~found] = self.signer.signatures(series.filter(pl.Series(~found)))
        return signatures, fingerprints

    def _same_signer(self, other: MinHashNoveltyIndex) -> bool:
        mine, theirs = self.config, other.config
        return (mine.num_perm, mine.seed, mine.shingle_size) == (theirs.num_perm, theirs.seed, theirs.shingle_size)

    def positions_of(self, fingerprints: np.ndarray) -> np.ndarray:
        """Per fingerprint, the position of an indexed row of that exact text (the first, when the text
        repeats), else -1."""
        # A binary search in the first halves, sorted once per row count: a Polars join rebuilt its
        # hash table of every indexed fingerprint per lookup (57.7 s of CPU for the dataset's 2M rows).
        with self._lending:
            if self._fingerprint_positions is None or self._fingerprint_positions[0] != len(self):
                stored = np.concatenate([part.reshape(-1, 4) for part in self._fingerprints.parts()]).view(np.uint64)
                order = np.argsort(stored[:, 0], kind="stable")  # equal halves: the lowest position first
                self._fingerprint_positions = (len(self), stored[order, 0], order, stored[:, 1].copy())
            _, first_halves, order, second_halves = self._fingerprint_positions
        wanted = fingerprints.view(np.uint64)
        if not len(first_halves):
            return np.full(len(wanted), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(first_halves, wanted[:, 0]), len(first_halves) - 1)
        positions = order[at]
        # Both halves must match; a 64-bit collision of first halves only costs a signature computed again.
        found = (first_halves[at] == wanted[:, 0]) & (second_halves[positions] == wanted[:, 1])
        return np.where(found, positions, -1).astype(np.int64)

    def _store(self, chunks: list[tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Add rows, given as chunks of (ids, signatures, band keys, fingerprints), as one bucket segment.
        Each chunk is taken out of `chunks` once copied, so a group's pending arrays are not held twice."""
        total = sum(len(chunk[0]) for chunk in chunks)
        if not total:
            return
        first = len(self._ids)
        if first + total > _MAX_ROWS:
            raise ValueError(f"a novelty index holds at most {_MAX_ROWS:,} rows")
        entries = np.empty(total * self.bands, dtype=np.uint64)
        stored = 0
        while chunks:
            ids, signatures, keys, fingerprints = chunks.pop(0)
            self._signatures.append(signatures)
            self._fingerprints.append(fingerprints)
            self._ids.extend(ids)
            positions = np.arange(first + stored, first + stored + len(ids), dtype=np.uint64)[:, None]
            entries[stored * self.bands : (stored + len(ids)) * self.bands] = ((keys & ~_POSITION_MASK) | positions).ravel()
            stored += len(ids)
            del ids, signatures, keys, fingerprints
        entries.sort()
        self._segments.append(entries)
        # Merge while the newest segment is at least half the size of the one before: O(log n) segments.
        while len(self._segments) > 1 and 2 * len(self._segments[-1]) >= len(self._segments[-2]):
            older, newer = self._segments.pop(-2), self._segments.pop()
            self._segments.append(self._kernels.merge_sorted(np.asarray(older), newer))

    def add_pool(self, ids: Sequence[str], texts: Texts) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"add_pool: {len(ids)} ids but {len(texts)} texts")
        ids = ids.to_list() if isinstance(ids, pl.Series) else list(ids)

        # Large segments: one sort per 200K rows instead of many small sorts and merges. A list of
        # texts becomes a Polars column one segment at a time (no second copy of the whole pool).
        def prepared(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            stop = start + _POOL_ROWS_PER_SEGMENT
            signatures, fingerprints = self.signed(texts.slice(start, _POOL_ROWS_PER_SEGMENT) if isinstance(texts, pl.Series) else texts[start:stop])
            return signatures, self._band_keys(signatures), fingerprints

        # The next segment is signed while this one is sorted into the buckets (both release the GIL):
        # the sort and merges ran on one core while the other idled (LaMini's pool: ~7 s).
        starts = list(range(0, len(ids), _POOL_ROWS_PER_SEGMENT))
        with ThreadPoolExecutor(max_workers=1) as ahead:
            upcoming = ahead.submit(prepared, starts[0]) if starts else None
            for number, start in enumerate(starts):
                assert upcoming is not None
                signatures, keys, fingerprints = upcoming.result()
                upcoming = ahead.submit(prepared, starts[number + 1]) if number + 1 < len(starts) else None
                self._store([(ids[start : start + _POOL_ROWS_PER_SEGMENT], signatures, keys, fingerprints)])

    def _write_arrays(self, folder: Path) -> dict[str, object]:
        with (folder / "signatures.npy").open("wb") as handle:
            # Streamed: the saved part is memory-mapped, so it is copied page by page, not loaded.
            rows = len(self._signatures)
            np.lib.format.write_array_header_1_0(
                handle, {"descr": "<u4", "fortran_order": False, "shape": (rows, self.config.num_perm)}
            )
            for part in self._signatures.parts():
                for start in range(0, len(part), 100_000):
                    handle.write(np.ascontiguousarray(part[start : start + 100_000], dtype="<u4").tobytes())
        np.save(folder / "fingerprints.npy", np.concatenate([part.reshape(-1, 4) for part in self._fingerprints.parts()]))
        for number, entries in enumerate(self._segments):
            np.save(folder / f"buckets-{number}.npy", entries)
        return {"segments": len(self._segments), "bands": self.bands, "rows_per_band": self.rows_per_band}

    def _read_arrays(self, folder: Path, meta: dict[str, object]) -> None:
        if (meta["bands"], meta["rows_per_band"]) != (self.bands, self.rows_per_band):
            raise ValueError(f"{folder}: saved with another band layout; rebuild it")
        self._signatures = GrowingRows(self.config.num_perm, _load_array(folder / "signatures.npy"))
        self._fingerprints = GrowingRows(4, _load_array(folder / "fingerprints.npy").reshape(-1, 4))
        self._segments = [_load_array(folder / f"buckets-{number}.npy") for number in range(int(meta["segments"]))]

    def _nearest_in_index(self, signatures: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Per row, the position of the most similar indexed row at or above the threshold, else -1
        (ties: the earliest indexed)."""
        prefixes = keys.ravel() & ~_POSITION_MASK
        order = np.argsort(prefixes)  # sorted queries: each segment is walked once, in order
        rows_of_prefixes = np.repeat(np.arange(len(signatures)), self.bands)[order]
        best_position = np.full(len(signatures), -1, dtype=np.int64)
        best_equal = np.zeros(len(signatures), dtype=np.int64)
        saved, added = (np.asarray(part) for part in self._signatures.parts())
        for segment in self._segments:
            self._kernels.nearest_in_segment(prefixes[order], rows_of_prefixes, np.asarray(segment), _POSITION_BITS,
                                             np.ascontiguousarray(signatures), saved, added, self._min_equal,
                                             best_position, best_equal)
        return best_position

    def check_and_add_batch(self, ids: Sequence[str], texts: Texts) -> list[tuple[bool, str | None]]:
        if len(ids) != len(texts):
            raise ValueError(f"check_and_add_batch: {len(ids)} ids but {len(texts)} texts")
        results: list[tuple[bool, str | None]] = []
        for start in range(0, len(ids), _ROWS_PER_CHUNK):
            results.extend(
                self._check_chunk(list(ids[start : start + _ROWS_PER_CHUNK]), texts[start : start + _ROWS_PER_CHUNK])
            )
        return results

    def _check_chunk(self, ids: list[str], texts: Texts) -> list[tuple[bool, str | None]]:
        signatures, fingerprints = self.signed(texts)
        keys = self._band_keys(signatures)
        nearest = self._nearest_in_index(signatures, keys).tolist()
        # Rows of this chunk can only be near each other through a band key they share.
        _, inverse, counts = np.unique(keys.ravel(), return_inverse=True, return_counts=True)
        shared = (counts[inverse] > 1).reshape(keys.shape)
        has_shared = shared.any(axis=1).tolist()
        buckets: dict[int, list[int]] = {}
        kept: list[int] = []
        results: list[tuple[bool, str | None]] = []
        for row in range(len(ids)):
            if nearest[row] >= 0:
                results.append((False, self._ids[nearest[row]]))
                continue
            if has_shared[row]:
                row_keys = keys[row][shared[row]].tolist()
                candidates = sorted({earlier for key in row_keys for earlier in buckets.get(key, ())})
                if candidates:
                    equal = np.count_nonzero(signatures[candidates] == signatures[row], axis=1)
                    best = int(np.argmax(equal))
                    if equal[best] >= self._min_equal:
                        results.append((False, ids[candidates[best]]))
                        continue
                for key in row_keys:
                    buckets.setdefault(key, []).append(row)
            kept.append(row)
            results.append((True, None))
        self._store([([ids[row] for row in kept], signatures[kept], keys[kept], fingerprints[kept])])
        return results


    def add_group(self, ids: Sequence[str], texts: Texts, known: NoveltyIndex | None = None) -> list[str | None]:
        if len(ids) != len(texts):
            raise ValueError(f"add_group: {len(ids)} ids but {len(texts)} texts")
        found: list[str | None] = []
        pending: list[tuple[list[str], np.ndarray, np.ndarray, np.ndarray]] = []

        def judge(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            signatures, fingerprints = self.signed(texts[start : start + _ROWS_PER_CHUNK], known)
            keys = self._band_keys(signatures)
            return signatures, fingerprints, keys, self._nearest_in_index(signatures, keys)

        # The index does not change within a group, so its chunks are judged on worker threads (the
        # kernels release the GIL), a few ahead of the rows collected here in order.
        workers = self._kernels.worker_threads()
        starts = iter(range(0, len(ids), _ROWS_PER_CHUNK))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            in_flight: deque[tuple[int, Future[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]] = deque()
            while True:
                while len(in_flight) < 2 * workers and (start := next(starts, None)) is not None:
                    in_flight.append((start, pool.submit(judge, start)))
                if not in_flight:
                    break
                start, judged = in_flight.popleft()
                signatures, fingerprints, keys, nearest = judged.result()
                found.extend(None if position < 0 else self._ids[position] for position in nearest.tolist())
                novel = np.flatnonzero(nearest < 0)
                pending.append(([ids[start + row] for row in novel.tolist()], signatures[novel], keys[novel], fingerprints[novel]))
        self._store(pending)  # after the whole group was judged, as one segment (one sort, one merge)
        return found


def _score_lcs(target: list[str], prediction: list[str]):  # noqa: ANN202 (rouge_score's Score tuple)
    from rouge_score import rouge_scorer

    return rouge_scorer._score_lcs(target, prediction)


class RougeLNoveltyIndex(NoveltyIndex):
    """Self-Instruct's rule: ROUGE-L F against every kept instruction (tokens cached, as they did)."""

    def __init__(self, config: NoveltyConfig) -> None:
        super().__init__(config)
        from rouge_score import tokenizers

        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
        self._tokens: list[list[str]] = []

    def _write_arrays(self, folder: Path) -> dict[str, object]:
        # Small by design (the method is quadratic): the token lists as one JSON file.
        (folder / "tokens.json").write_text(json.dumps(self._tokens), encoding="utf-8")
        return {}

    def _read_arrays(self, folder: Path, meta: dict[str, object]) -> None:
        self._tokens = json.loads((folder / "tokens.json").read_text(encoding="utf-8"))

    def add_pool(self, ids: Sequence[str], texts: Texts) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"add_pool: {len(ids)} ids but {len(texts)} texts")
        self._ids.extend(ids)
        self._tokens.extend(self._tokenizer.tokenize(text) for text in texts)

    def check_and_add_batch(self, ids: Sequence[str], texts: Texts) -> list[tuple[bool, str | None]]:
        if len(ids) != len(texts):
            raise ValueError(f"check_and_add_batch: {len(ids)} ids but {len(texts)} texts")
        results: list[tuple[bool, str | None]] = []
        for row_id, text in zip(ids, texts):
            tokens = self._tokenizer.tokenize(text)
            best_score, best_position = -1.0, -1
            for position, kept in enumerate(self._tokens):
                # The same private scorer Self-Instruct's generate_instructions.py calls on cached tokens.
                score = _score_lcs(tokens, kept).fmeasure
                if score > best_score:
                    best_score, best_position = score, position
            if best_score > self.config.rouge_l_threshold:
                results.append((False, self._ids[best_position]))
                continue
            self._ids.append(row_id)
            self._tokens.append(tokens)
            results.append((True, None))
        return results

    def add_group(self, ids: Sequence[str], texts: Texts, known: NoveltyIndex | None = None) -> list[str | None]:
        if len(ids) != len(texts):
            raise ValueError(f"add_group: {len(ids)} ids but {len(texts)} texts")
        indexed = len(self._tokens)
        found: list[str | None] = []
        novel: list[tuple[str, list[str]]] = []
        for row_id, text in zip(ids, texts):
            tokens = self._tokenizer.tokenize(text)
            scores = [_score_lcs(tokens, kept).fmeasure for kept in self._tokens[:indexed]]
            best = max(range(len(scores)), key=scores.__getitem__, default=-1)
            if best >= 0 and scores[best] > self.config.rouge_l_threshold:
                found.append(self._ids[best])
            else:
                found.append(None)
                novel.append((row_id, tokens))
        for row_id, tokens in novel:
            self._ids.append(row_id)
            self._tokens.append(tokens)
        return found
