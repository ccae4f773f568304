"""A sentence-transformers model run by ONNX Runtime with int8 weights: ~2.6x the rows per CPU second
of fp32 torch for all-MiniLM-L6-v2 on these 2 AVX-512 VNNI cores (bench/diversity.py), at a mean
cosine of 0.993 to the fp32 vectors (tests/diversity/test_embedding_fidelity.py).

The whole pipeline (transformer, pooling, normalisation) is exported once with torch's TorchScript
ONNX exporter (eager attention: plain MatMul/Softmax ops, which ORT fuses better than the SDPA
export's mask handling), its MatMul weights quantised per channel to int8 (onnxruntime's dynamic
quantisation; the token-embedding table stays fp32), and the result kept in the artifact store under
`onnx/<model-slug>/`, keyed by a hash of the weights and the tool versions, so it works offline and
a rerun loads it in a second. Tokenisation stays with the model's own tokenizer.

How it runs (each measured in bench/diversity.py's figures in the README): one tokenizer call per
`encode`, then batches cut by a token budget from the texts sorted by token count (little padding,
activations stay in the L2 cache); each batch runs single-threaded, one batch per core from a
thread pool (MiniLM's matrices are too small to split across cores without losing more to
synchronisation), and ORT's idle threads sleep instead of spinning (spinning burnt ~40% of the CPU
seconds, more on a busy machine). ORT's transformer optimizer (fused Attention, QAttention) was
~15% slower per CPU second here than this graph, so it is not used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import contextlib
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.diversity.embeddings import Log, model_slug

# Bump when the export or quantisation recipe changes: old exports are then not reused.
# Padded tokens per model call (rows x longest row): ~4 MB of float activations in the widest layer,
# inside a core's 2 MB L2 for most of the layer stack; 256-1024 measured within 5% of each other.
TOKENS_PER_BATCH = 512
RECIPE = "st-pipeline-opset17-eager-attention-matmul-int8-per-channel-v2"
OPSET = 17


def _tokenizer(model: Any) -> Any:
    """The model's text-to-features step (`preprocess` since sentence-transformers 6, `tokenize` before)."""
    return getattr(model, "preprocess", None) or model.tokenize


def _weights_digest(model: Any) -> str:
    """The model's identity: its weights and the versions of the tools that export and run it."""
    digest = hashlib.sha256(RECIPE.encode("utf-8"))
    for package in ("torch", "onnx", "onnxruntime", "sentence-transformers", "transformers"):
        digest.update(f"{package}={importlib.metadata.version(package)};".encode("utf-8"))
    for name, tensor in model.state_dict().items():
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """onnxruntime's quantiser advises shape pre-processing on the root logger; a transformer's
    MatMuls quantise without it, so the advice would only puzzle a user reading the run log."""
    return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Hugging Face modules inside `model` set to eager attention while it exports, then restored."""
    restore = []
    for module in model.modules():
        config = getattr(module, "config", None)
        if hasattr(module, "set_attn_implementation") and getattr(config, "_attn_implementation", "eager") != "eager":
            restore.append((module, config._attn_implementation))
            module.set_attn_implementation("eager")
    try:
        yield
    finally:
        for module, implementation in restore:
            module.set_attn_implementation(implementation)


def _export_int8(model: Any, folder: Path) -> bytes:
    """ONNX bytes of the int8 pipeline: export fp32, then quantise the MatMul weights."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    features = _tokenizer(model)(["an example sentence", "and a longer example sentence, with more words"])
    names = [name for name, value in features.items() if isinstance(value, torch.Tensor)]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors)))["sentence_embedding"]

    fp32, int8 = folder / "fp32.onnx", folder / "int8.onnx"
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), _eager_attention(model):
        warnings.simplefilter("ignore")  # tracer warnings about the pooling's shape checks
        torch.onnx.export(Pipeline().eval(), tuple(features[name] for name in names), str(fp32),
                          input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names},
                                        "sentence_embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    # MatMul only: quantising the token-embedding Gather too costs fidelity and saves no time.
    root = logging.getLogger()
    root.addFilter(_no_preprocessing_advice)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        root.removeFilter(_no_preprocessing_advice)
    return int8.read_bytes()


def onnx_int8_bytes(model: Any, model_name: str, store: ArtifactStore, log: Log) -> bytes:
    """The int8 ONNX pipeline of `model`, from the artifact store or exported and stored there."""
    key = f"onnx/{model_slug(model_name)}/int8-{_weights_digest(model)}.onnx"
    if store.exists(key):
        return store.read_bytes(key)
    log(f"embeddings: exporting {model_name} to ONNX (int8) once, kept at {store.uri(key)}")
    with tempfile.TemporaryDirectory(prefix="lamini-onnx-") as folder:
        data = _export_int8(model, Path(folder))
    store.write_bytes(key, data)
    return data


def token_budget_batches(lengths: np.ndarray, max_rows: int, tokens_per_batch: int = TOKENS_PER_BATCH) -> list[np.ndarray]:
    """Row indices of each model call: longest texts first, each call within the token budget (rows x
    its longest row) and `max_rows`, and at least one row."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    found, start = [], 0
    while start < len(order):
        rows = max(1, min(max_rows, tokens_per_batch // max(int(lengths[order[start]]), 1)))
        found.append(order[start:start + rows])
        start += rows
    return found


class OnnxSentenceEncoder:
    """`encode` of a SentenceTransformer (the arguments the pipeline uses), run by ONNX Runtime."""

    def __init__(self, model: Any, onnx_bytes: bytes, threads: int | None = None,
                 tokens_per_batch: int = TOKENS_PER_BATCH) -> None:
        import onnxruntime
        import torch

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one batch per core instead (see the module docstring)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.tokenize = _tokenizer(model)
        self.workers = threads or torch.get_num_threads()  # as torch would, e.g. OMP_NUM_THREADS
        self.tokens_per_batch = tokens_per_batch

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize_embeddings: bool = False,
               **_: Any) -> np.ndarray:
        if not sentences:
            return np.empty((0, 0), dtype=np.float32)
        features = self.tokenize(list(sentences))  # once: padded to the longest, trimmed per batch below
        arrays = {name: features[name].numpy().astype(np.int64, copy=False) for name in self.input_names}
        mask = arrays.get("attention_mask")
        lengths = mask.sum(axis=1) if mask is not None else np.full(len(sentences), arrays[self.input_names[0]].shape[1])

        def run(rows: np.ndarray) -> np.ndarray:
            columns = np.flatnonzero(mask[rows].any(axis=0)) if mask is not None else np.arange(int(lengths[0]))
            width = slice(int(columns[0]), int(columns[-1]) + 1) if len(columns) else slice(0, 1)
            return self.session.run(None, {name: array[rows, width] for name, array in arrays.items()})[0]

        batches = token_budget_batches(lengths, batch_size, self.tokens_per_batch)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:  # session.run releases the GIL
            parts = list(pool.map(run, batches))
        vectors = np.empty((len(sentences), parts[0].shape[1]), dtype=np.float32)
        vectors[np.concatenate(batches)] = np.concatenate(parts)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


def embedding_fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """How closely `candidate` vectors (rows L2-normalised) follow `reference` ones of the same texts:
    the cosine of each pair, and whether each text's nearest other text stays the same."""
    cosine = np.sum(reference * candidate, axis=1)
    reference_similarity, candidate_similarity = reference @ reference.T, candidate @ candidate.T
    np.fill_diagonal(reference_similarity, -np.inf)
    np.fill_diagonal(candidate_similarity, -np.inf)
    reference_top = np.argsort(-reference_similarity, axis=1)[:, :5]
    candidate_best = candidate_similarity.argmax(axis=1)
    rows = np.arange(len(reference))
    return {
        "mean_cosine": float(cosine.mean()),
        "min_cosine": float(cosine.min()),
        "top1_agreement": float(np.mean(reference_top[:, 0] == candidate_best)),
        "top1_in_reference_top5": float(np.mean((reference_top == candidate_best[:, None]).any(axis=1))),
        # What the candidate's nearest neighbour costs in reference similarity against the true nearest.
        "mean_neighbour_regret": float(np.mean(reference_similarity[rows, reference_top[:, 0]]
                                               - reference_similarity[rows, candidate_best])),
    }

