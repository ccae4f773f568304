"""Incremental near-duplicate filtering: is a new instruction novel against everything kept so far?

Two methods behind one interface (`NoveltyIndex`), picked by `NoveltyConfig.method`:

- `minhash`: MinHash signatures of word shingles of the normalised text, in a banded LSH index.
  Signatures are computed with numpy for a whole batch at once (each shingle hashed once, the
  permutations applied as one matrix operation) with datasketch's own "affine32" scheme and
  permutation parameters, so they equal what `datasketch.MinHash.update_batch` would produce; the
  bands are the ones datasketch's `MinHashLSH` picks for the threshold. LSH candidates are
  confirmed by their estimated Jaccard similarity before a row is called a duplicate.
- `rouge_l`: exact Self-Instruct/Alpaca behaviour: ROUGE-L F-measure of the candidate against every
  kept instruction, dropped when the best score is above the threshold (0.7). Quadratic: for parity
  checks and small pools only.

Both add novel candidates to the index, so a later candidate is compared with them too without
re-scanning anything.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, ConfigDict, Field
from rouge_score import rouge_scorer, tokenizers

from lamini_assets.schema import normalise_text

_SCHEME = "affine32"
_WORD = re.compile(r"\w+")
# Rows per numpy batch: bounds the (shingles x num_perm) matrix to a few hundred MB.
_SIGNATURE_BATCH_SHINGLES = 200_000
# Rows signed and checked per numpy pass, and candidate pairs compared at once (memory bounds).
_ROWS_PER_CHUNK = 20_000
_PAIRS_PER_COMPARISON = 50_000
# Cached shingle hashes before the cache is cleared (bounds memory on huge vocabularies).
_SHINGLE_CACHE_LIMIT = 2_000_000


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


class NoveltyIndex(ABC):
    """Everything kept so far; answers whether a new text is novel and remembers it if so."""

    def __init__(self, config: NoveltyConfig) -> None:
        self.config = config
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> Sequence[str]:
        """The ids indexed so far, pool first, in the order they were added."""
        return self._ids

    @abstractmethod
    def add_pool(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index existing rows unconditionally (the pool new rows must differ from)."""

    @abstractmethod
    def check_and_add_batch(
        self, ids: Sequence[str], texts: Sequence[str]
    ) -> list[tuple[bool, str | None]]:
        """For each candidate in order: (is_novel, id of the near-duplicate or None).
        Novel candidates are added, so later candidates in the same batch are checked against them."""

    @abstractmethod
    def add_group(self, ids: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        """Rows of one group (e.g. one dataset source), each judged only against the rows indexed
        before the call, never against the rest of its group: the id of its nearest near-duplicate,
        or None. The rows judged novel are added; the others are not."""

    def check_and_add(self, row_id: str, text: str) -> tuple[bool, str | None]:
        """(is_novel, id of the near-duplicate or None); a novel candidate is added."""
        return self.check_and_add_batch([row_id], [text])[0]

    def save(self, path: str | Path) -> None:
        """Pickle the index atomically, so a later run can reload it instead of re-scanning the pool."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)


def load_novelty_index(path: str | Path, config: NoveltyConfig) -> NoveltyIndex:
    """Reload a saved index (a pickle: load only files this pipeline wrote); refuses one built with
    a different config, whose answers would differ."""
    with Path(path).open("rb") as handle:
        index = pickle.load(handle)
    if not isinstance(index, NoveltyIndex):
        raise ValueError(f"{path}: not a saved NoveltyIndex (found {type(index).__name__})")
    if index.config != config:
        raise ValueError(f"{path}: index was built with {index.config!r}, not {config!r}; rebuild it")
    return index


def make_novelty_index(config: NoveltyConfig) -> NoveltyIndex:
    """An empty index of the configured method."""
    if config.method == "minhash":
        return MinHashNoveltyIndex(config)
    return RougeLNoveltyIndex(config)


def shingle_words(text: str) -> list[str]:
    """Words of the normalised text, the units shingles are made of."""
    return _WORD.findall(normalise_text(text))


def _hash32(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode("utf-8"), digest_size=4).digest(), "little")


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine permutations."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


class MinHashSigner:
    """Vectorised MinHash signatures identical to datasketch's affine32 `MinHash` fed the same
    shingles with `hashfunc=shingle_hash`."""

    def __init__(self, num_perm: int, seed: int, shingle_size: int) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_size = shingle_size
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme=_SCHEME).permutations
        self._a = a.astype(np.uint32)
        self._b = b.astype(np.uint32)
        self._cache: dict[str, int] = {}

    def shingles(self, text: str) -> list[str]:
        """Word n-grams of the normalised text; a text shorter than n words is one shingle."""
        words = shingle_words(text)
        size = self.shingle_size
        if len(words) <= size:
            return [" ".join(words)]
        if size == 1:
            return words
        return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]

    def shingle_hash(self, shingle: str) -> int:
        """32-bit hash of one shingle: the `hashfunc` a datasketch MinHash needs to match."""
        return _hash32(shingle)

    def _hash_shingles(self, shingles: list[str]) -> np.ndarray:
        """Hashes of many shingles; each distinct shingle is hashed once and cached (words repeat)."""
        missing = set(shingles).difference(self._cache)
        if len(self._cache) + len(missing) > _SHINGLE_CACHE_LIMIT:
            self._cache.clear()
            missing = set(shingles)
        self._cache.update((shingle, _hash32(shingle)) for shingle in missing)
        return np.fromiter(map(self._cache.__getitem__, shingles), dtype=np.uint32, count=len(shingles))

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32 signatures."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(texts):
            shingles: list[str] = []
            offsets: list[int] = []
            stop = start
            while stop < len(texts) and (stop == start or len(shingles) < _SIGNATURE_BATCH_SHINGLES):
                offsets.append(len(shingles))
                # Repeated shingles in a row are harmless: the minimum of a multiset is that of its set.
                shingles.extend(self.shingles(texts[stop]))
                stop += 1
            # (num_perm, shingles) so each permutation's minimum runs over contiguous memory.
            permuted = np.multiply.outer(self._a, _fmix32(self._hash_shingles(shingles)))
            permuted += self._b[:, None]
            out[start:stop] = np.minimum.reduceat(permuted, np.asarray(offsets), axis=1).T
            start = stop
        return out


def _fmix64(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


class MinHashNoveltyIndex(NoveltyIndex):
    """Banded MinHash LSH over sorted numpy arrays.

    The band layout (b bands of r rows) is the one datasketch's `MinHashLSH` picks for the
    threshold. Its buckets are not used: they hold a Python set per bucket (measured: 0.87 GB per
    100K rows at 128 permutations, ~22 GB at LaMini's 2.58M rows). Here each band of each row is
    one uint64 key and an int32 row position (12 bytes) in sorted segments merged like an LSM
    tree; candidates are confirmed against the signatures kept in one growing uint32 matrix.
    """

    def __init__(self, config: NoveltyConfig) -> None:
        super().__init__(config)
        self.signer = MinHashSigner(config.num_perm, config.seed, config.shingle_size)
        layout = MinHashLSH(threshold=config.minhash_threshold, num_perm=config.num_perm)
        self.bands, self.rows_per_band = layout.b, layout.r
        mixers = np.random.default_rng(config.seed).integers(0, 2**63, size=self.rows_per_band + 1, dtype=np.uint64)
        self._row_mixers = mixers[:-1] * np.uint64(2) + np.uint64(1)
        self._band_salts = np.arange(self.bands, dtype=np.uint64) * (mixers[-1] | np.uint64(1))
        self._signatures = np.empty((1024, config.num_perm), dtype=np.uint32)
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted band keys, positions)
        # The smallest number of equal signature slots that reaches the threshold.
        self._min_equal = int(np.ceil(config.minhash_threshold * config.num_perm - 1e-9))

    def __getstate__(self) -> dict[str, object]:
        # Only the rows in use are saved, not the spare capacity.
        state = self.__dict__.copy()
        state["_signatures"] = self._signatures[: len(self._ids)]
        return state

    def _band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: one key per band, equal only when the band's r values are equal."""
        used = signatures[:, : self.bands * self.rows_per_band].astype(np.uint64)
        banded = used.reshape(len(signatures), self.bands, self.rows_per_band)
        return _fmix64((banded * self._row_mixers).sum(axis=2, dtype=np.uint64) + self._band_salts)

    def _store(self, ids: Sequence[str], signatures: np.ndarray, keys: np.ndarray) -> None:
        if not ids:
            return
        first = len(self._ids)
        needed = first + len(ids)
        if needed > len(self._signatures):
            # In-place realloc: large arrays grow by remapping pages, without a second copy in memory.
            capacity = max(needed, len(self._signatures) * 5 // 4)
            if self._signatures.flags.owndata:
                self._signatures.resize((capacity, self.config.num_perm), refcheck=False)
            else:
                # Unpickled arrays are views of the pickle's buffer and cannot be resized: copy once
                # into an array of our own, which then grows in place.
                grown = np.empty((capacity, self.config.num_perm), dtype=np.uint32)
                grown[:first] = self._signatures[:first]
                self._signatures = grown
        self._signatures[first:needed] = signatures
        self._ids.extend(ids)
        positions = np.repeat(np.arange(first, needed, dtype=np.int32), self.bands)
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")
        self._segments.append((flat[order], positions[order]))
        # Merge while the newest segment is at least half the size of the one before: O(log n) segments.
        while len(self._segments) > 1 and 2 * len(self._segments[-1][0]) >= len(self._segments[-2][0]):
            (keys_a, pos_a), (keys_b, pos_b) = self._segments.pop(-2), self._segments.pop()
            insert_at = np.searchsorted(keys_a, keys_b, side="right")  # a linear merge of two sorted runs
            self._segments.append((np.insert(keys_a, insert_at, keys_b), np.insert(pos_a, insert_at, pos_b)))

    def add_pool(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"add_pool: {len(ids)} ids but {len(texts)} texts")
        for start in range(0, len(ids), _ROWS_PER_CHUNK):
            signatures = self.signer.signatures(texts[start : start + _ROWS_PER_CHUNK])
            self._store(list(ids[start : start + _ROWS_PER_CHUNK]), signatures, self._band_keys(signatures))

    def _nearest_in_index(self, signatures: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Per row, the position of the most similar indexed row at or above the threshold, else -1."""
        # Sorted queries: numpy's binary search then walks the segment in order (about 6x faster).
        order = np.argsort(keys.ravel())
        flat = keys.ravel()[order]
        row_of_key = np.repeat(np.arange(len(signatures)), self.bands)[order]
        found_rows: list[np.ndarray] = []
        found_positions: list[np.ndarray] = []
        found_equal: list[np.ndarray] = []
        for segment_keys, segment_positions in self._segments:
            low = np.searchsorted(segment_keys, flat, side="left")
            hit = segment_keys[np.minimum(low, len(segment_keys) - 1)] == flat
            if not hit.any():
                continue
            count = np.searchsorted(segment_keys, flat[hit], side="right") - low[hit]
            # Every (row, indexed position) pair sharing a bucket.
            starts = np.repeat(low[hit] - np.cumsum(count) + count, count) + np.arange(count.sum())
            rows = np.repeat(row_of_key[hit], count)
            positions = segment_positions[starts]
            for begin in range(0, len(rows), _PAIRS_PER_COMPARISON):
                part_rows = rows[begin : begin + _PAIRS_PER_COMPARISON]
                part_positions = positions[begin : begin + _PAIRS_PER_COMPARISON]
                equal = np.count_nonzero(signatures[part_rows] == self._signatures[part_positions], axis=1)
                similar = equal >= self._min_equal
                found_rows.append(part_rows[similar])
                found_positions.append(part_positions[similar])
                found_equal.append(equal[similar])
        nearest = np.full(len(signatures), -1, dtype=np.int64)
        if found_rows:
            rows, positions, equal = map(np.concatenate, (found_rows, found_positions, found_equal))
            order = np.lexsort((-equal, rows))  # by row, most similar first
            first_rows, first = np.unique(rows[order], return_index=True)
            nearest[first_rows] = positions[order][first]
        return nearest

    def check_and_add_batch(
        self, ids: Sequence[str], texts: Sequence[str]
    ) -> list[tuple[bool, str | None]]:
        if len(ids) != len(texts):
            raise ValueError(f"check_and_add_batch: {len(ids)} ids but {len(texts)} texts")
        results: list[tuple[bool, str | None]] = []
        for start in range(0, len(ids), _ROWS_PER_CHUNK):
            results.extend(
                self._check_chunk(list(ids[start : start + _ROWS_PER_CHUNK]), texts[start : start + _ROWS_PER_CHUNK])
            )
        return results

    def _check_chunk(self, ids: list[str], texts: Sequence[str]) -> list[tuple[bool, str | None]]:
        signatures = self.signer.signatures(texts)
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
        self._store([ids[row] for row in kept], signatures[kept], keys[kept])
        return results


    def add_group(self, ids: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        if len(ids) != len(texts):
            raise ValueError(f"add_group: {len(ids)} ids but {len(texts)} texts")
        found: list[str | None] = []
        pending: list[tuple[list[str], np.ndarray, np.ndarray]] = []
        for start in range(0, len(ids), _ROWS_PER_CHUNK):
            signatures = self.signer.signatures(texts[start : start + _ROWS_PER_CHUNK])
            keys = self._band_keys(signatures)
            nearest = self._nearest_in_index(signatures, keys)
            found.extend(None if position < 0 else self._ids[position] for position in nearest.tolist())
            novel = np.flatnonzero(nearest < 0)
            pending.append(([ids[start + row] for row in novel.tolist()], signatures[novel], keys[novel]))
        for chunk_ids, signatures, keys in pending:  # stored after the whole group was judged
            self._store(chunk_ids, signatures, keys)
        return found


class RougeLNoveltyIndex(NoveltyIndex):
    """Self-Instruct's rule: ROUGE-L F against every kept instruction (tokens cached, as they did)."""

    def __init__(self, config: NoveltyConfig) -> None:
        super().__init__(config)
        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
        self._tokens: list[list[str]] = []

    def add_pool(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"add_pool: {len(ids)} ids but {len(texts)} texts")
        self._ids.extend(ids)
        self._tokens.extend(self._tokenizer.tokenize(text) for text in texts)

    def check_and_add_batch(
        self, ids: Sequence[str], texts: Sequence[str]
    ) -> list[tuple[bool, str | None]]:
        if len(ids) != len(texts):
            raise ValueError(f"check_and_add_batch: {len(ids)} ids but {len(texts)} texts")
        results: list[tuple[bool, str | None]] = []
        for row_id, text in zip(ids, texts):
            tokens = self._tokenizer.tokenize(text)
            best_score, best_position = -1.0, -1
            for position, kept in enumerate(self._tokens):
                # The same private scorer Self-Instruct's generate_instructions.py calls on cached tokens.
                score = rouge_scorer._score_lcs(tokens, kept).fmeasure
                if score > best_score:
                    best_score, best_position = score, position
            if best_score > self.config.rouge_l_threshold:
                results.append((False, self._ids[best_position]))
                continue
            self._ids.append(row_id)
            self._tokens.append(tokens)
            results.append((True, None))
        return results

    def add_group(self, ids: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        if len(ids) != len(texts):
            raise ValueError(f"add_group: {len(ids)} ids but {len(texts)} texts")
        indexed = len(self._tokens)
        found: list[str | None] = []
        novel: list[tuple[str, list[str]]] = []
        for row_id, text in zip(ids, texts):
            tokens = self._tokenizer.tokenize(text)
            scores = [rouge_scorer._score_lcs(tokens, kept).fmeasure for kept in self._tokens[:indexed]]
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
