"""The fast predictor of an exported model directory (see :mod:`ambig_lib.serving.layout`).

``Predictor`` loads such a directory with a fixed number of intra-op threads, after checking each served file
against the sizes and SHA-256 in ``export.json``. At batch 1 it tokenises without padding; batches are
length-sorted and padded to the longest query of each chunk (dynamic padding). A query's answer never depends
on its batch: dynamic int8 quantisation scales activations per batch, so such a graph gets one query per call.
``TorchPredictor`` is the same API on the eager PyTorch model (the baseline of the latency study).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ambig_lib.serving.layout import (
    DEFAULT_LABEL_NAMES,
    PYTORCH_DIR,
    REEXPORT_HINT,
    TOKENIZER_FILE,
    VARIANT_FILES,
    VARIANTS,
    ServingError,
    per_batch_activation_scales,
    read_export_meta,
    variant_files,
    verify_export_files,
)


class Prediction(NamedTuple):
    """One answer: ``label`` (1 = ambiguous) and ``probability`` (of the ambiguous class)."""
    label: int
    probability: float


def _check_queries(queries: Sequence[str]) -> list[str]:
    if isinstance(queries, str):
        raise ServingError("predict() takes a list of queries, got one string. Fix: predict([query]).")
    out = list(queries)
    for i, query in enumerate(out):
        if not isinstance(query, str):
            raise ServingError(f"query {i} is {type(query).__name__}, not str.")
        if not has_text(query):
            raise ServingError(f"query {i} is empty, or whitespace and control characters (such as NUL) only; "
                               "there is nothing to classify.")
    return out


def has_text(query: str) -> bool:
    """True when ``query`` holds a character that is neither whitespace nor a control/format character."""
    return any(not unicodedata.category(c).startswith(("C", "Z")) for c in query)


def _two_class_probability(logits: np.ndarray) -> np.ndarray:
    """P(class 1) from two logits per row: a numerically stable softmax."""
    diff = logits[:, 1].astype(np.float64) - logits[:, 0].astype(np.float64)
    return 1.0 / (1.0 + np.exp(-diff))


class _TokenizingPredictor:
    """Tokenisation and batching shared by the ONNX and PyTorch predictors; subclasses supply ``_logits``."""
    def __init__(self, tokenizer_path: Path, input_names: Sequence[str], batch_size: int, max_length: int) -> None:
        from tokenizers import Tokenizer

        if batch_size < 1:
            raise ServingError(f"batch_size must be >= 1, got {batch_size}.")
        if not Path(tokenizer_path).is_file():
            raise ServingError(f"{tokenizer_path} is missing. {REEXPORT_HINT}")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # noqa: BLE001 - the Rust tokenizer raises plain Exception for a bad file
            raise ServingError(f"{tokenizer_path} is not a readable tokenizer ({exc}). {REEXPORT_HINT}") from None
        #: Feed one query per call (graphs with per-batch activation scales): one answer per query.
        self.one_query_per_call = False
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self.input_names = list(input_names)
        self.batch_size = batch_size
        self.max_length = max_length

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_one(self, query: str) -> Prediction:
        """Fast path for one query: no padding, no sorting."""
        if not isinstance(query, str) or not query.strip():
            raise ServingError("predict_one() needs one non-empty string.")
        ids = np.asarray(self._tokenizer.encode(query).ids, dtype=np.int64)[None, :]
        prob = float(_two_class_probability(self._logits(ids, np.ones_like(ids)))[0])
        return Prediction(int(prob >= 0.5), prob)

    def truncated(self, queries: Sequence[str]) -> list[int]:
        """Indices of the queries longer than ``max_length`` tokens: only their first tokens are classified."""
        encodings = self._tokenizer.encode_batch(_check_queries(queries))
        return [i for i, e in enumerate(encodings) if e.overflowing]

    def predict_proba(self, queries: Sequence[str]) -> np.ndarray:
        """P(ambiguous) per query, in input order (length-sorted, dynamically padded batches).

        A query's answer does not depend on the other queries: padding is masked, and a graph whose int8
        activation scales are per batch is fed one query per call (``one_query_per_call``).
        """
        items = _check_queries(queries)
        if not items:
            return np.zeros(0, dtype=np.float64)
        encodings = self._tokenizer.encode_batch(items)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        probs = np.empty(len(items), dtype=np.float64)
        step = 1 if self.one_query_per_call else self.batch_size
        for start in range(0, len(items), step):
            chunk = order[start:start + step]
            width = int(lengths[chunk].max())
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, index in enumerate(chunk):
                n = lengths[index]
                ids[row, :n] = encodings[index].ids
                mask[row, :n] = 1
            probs[chunk] = _two_class_probability(self._logits(ids, mask))
        return probs

    def predict(self, queries: Sequence[str]) -> list[Prediction]:
        """``(label, probability)`` per query, label 1 = ambiguous, probability of the ambiguous class."""
        return [Prediction(int(p >= 0.5), float(p)) for p in self.predict_proba(queries)]

    def _feed(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        return feed


class Predictor(_TokenizingPredictor):
    """An exported student served by onnxruntime on the CPU (or CUDA when asked and available).

    Loading checks the graph and tokenizer against ``export.json``: their sizes always, their SHA-256 unless
    ``verify=False`` (for hot paths that load the same verified directory again). Every query gets one answer
    whatever its batch: int8 graphs with per-batch activation scales (the transformer export) are fed one query
    per call (``one_query_per_call``); fp32 graphs and weight-only int8 graphs (the static student) are batched.
    """
    def __init__(self, model_dir: str | os.PathLike[str], variant: str = "int8", threads: int = 1,
                 batch_size: int = 64, device: str = "cpu", verify: bool = True) -> None:
        import onnxruntime as ort

        if variant not in VARIANT_FILES:
            raise ServingError(f"Unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
        if threads < 1:
            raise ServingError(f"threads must be >= 1, got {threads}.")
        self.model_dir = Path(model_dir)
        self.meta = read_export_meta(self.model_dir)
        model_path = self.model_dir / VARIANT_FILES[variant]
        verify_export_files(self.model_dir, self.meta, variant_files(self.meta, variant), full=verify)
        super().__init__(self.model_dir / TOKENIZER_FILE, self.meta["input_names"], batch_size,
                         int(self.meta["max_length"]))
        self.one_query_per_call = per_batch_activation_scales(self.meta, variant)
        self.variant, self.threads, self.device = variant, threads, device
        self.label_names: list[str] = list(self.meta.get("label_names", DEFAULT_LABEL_NAMES))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ServingError("device='cuda' but onnxruntime has no CUDAExecutionProvider. "
                                   "Fix: pip install onnxruntime-gpu on a machine with a GPU.")
            providers.insert(0, "CUDAExecutionProvider")
        elif device != "cpu":
            raise ServingError(f"Unknown device {device!r}; choose cpu or cuda.")
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServingError(f"{model_path} is not a loadable ONNX graph ({first}). {REEXPORT_HINT}") from None
        self._output = [self._session.get_outputs()[0].name]

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(self._output, self._feed(ids, mask))[0]


class TorchPredictor(_TokenizingPredictor):
    """The same student in eager PyTorch (fp32): the baseline the exported graphs are checked against."""

    def __init__(self, model_dir: str | os.PathLike[str], threads: int = 1, batch_size: int = 64,
                 device: str = "cpu") -> None:
        # torch and transformers only here: the ONNX predictor (and its cold start) must not import them
        import torch
        from transformers import AutoModelForSequenceClassification

        from ambig_lib.models.students import float32_kwargs

        self.model_dir = Path(model_dir)
        self.meta = read_export_meta(self.model_dir)
        source = self.model_dir / PYTORCH_DIR
        if not (source / "config.json").is_file():
            raise ServingError(f"{source} is missing: the export was made with include_pytorch=False.")
        super().__init__(self.model_dir / TOKENIZER_FILE, self.meta["input_names"], batch_size,
                         int(self.meta["max_length"]))
        self.variant, self.threads, self.device = "fp32", threads, device
        self.label_names = list(self.meta.get("label_names", DEFAULT_LABEL_NAMES))
        if device == "cpu":
            torch.set_num_threads(threads)
        self._torch = torch
        self._model = AutoModelForSequenceClassification.from_pretrained(source, **float32_kwargs())
        self._model = self._model.eval().to(device)

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        feed = {k: torch.from_numpy(v).to(self.device) for k, v in self._feed(ids, mask).items()}
        with torch.inference_mode():
            return self._model(**feed).logits.float().cpu().numpy()


def load_predictor(model_dir: str | os.PathLike[str], variant: str = "int8", threads: int = 1,
                   batch_size: int = 64, device: str = "cpu") -> _TokenizingPredictor:
    """``Predictor`` for ``fp32`` / ``int8``; ``TorchPredictor`` for ``pytorch``."""
    if variant == "pytorch":
        return TorchPredictor(model_dir, threads=threads, batch_size=batch_size, device=device)
    return Predictor(model_dir, variant=variant, threads=threads, batch_size=batch_size, device=device)


def agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How closely two probability vectors agree: label agreement (threshold 0.5) and absolute differences."""
    reference, other = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if reference.shape != other.shape:
        raise ServingError(f"cannot compare {reference.shape} with {other.shape} predictions.")
    diff = np.abs(reference - other)
    return {
        "n": float(len(reference)),
        "label_agreement": float(np.mean((reference >= 0.5) == (other >= 0.5))) if len(reference) else 1.0,
        "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
        "mean_abs_diff": float(diff.mean()) if len(diff) else 0.0,
    }
