"""The deployable student: ONNX export (fp32 + int8 dynamic quantisation) and a fast predictor.

An exported model directory holds::

    model.onnx         fp32 graph, fused by the onnxruntime transformer optimizer where it knows the model type
    model.int8.onnx    the same graph with int8 dynamically quantised MatMul weights (per channel)
    tokenizer.json     the fast (Rust) tokenizer, truncation set to ``max_length``
    pytorch/           the source model (``save_pretrained``), for the eager-PyTorch baseline and re-export
    export.json        provenance: source, label names, versions, options, SHA-256 of every file

``Predictor`` loads such a directory with a fixed number of intra-op threads, after checking each served file
against the sizes and SHA-256 in ``export.json``. At batch 1 it tokenises without padding; batches are
length-sorted and padded to the longest query of each chunk (dynamic padding). A query's answer never depends
on its batch: dynamic int8 quantisation scales activations per batch, so such a graph gets one query per call.
``TorchPredictor`` is the same API on the eager PyTorch model (the baseline of the latency study).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import atomic_path, sha256_file, write_json_atomic

EXPORT_META = "export.json"
TOKENIZER_FILE = "tokenizer.json"
PYTORCH_DIR = "pytorch"
VARIANT_FILES: dict[str, str] = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
VARIANTS: tuple[str, ...] = tuple(VARIANT_FILES)
DEFAULT_LABEL_NAMES: tuple[str, str] = ("clear", "ambiguous")
#: Model types the onnxruntime transformer optimizer fuses (attention, layer norm, GELU).
_ORT_OPTIMIZER_TYPES = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "mpnet": "bert"}


class ServingError(AmbigError):
    """An exported model directory is missing, incomplete or incompatible, or the input is malformed."""


class Prediction(NamedTuple):
    """One answer: ``label`` (1 = ambiguous) and ``probability`` (of the ambiguous class)."""

    label: int
    probability: float


# ------------------------------------------------------------------------------------------------ export


@dataclass(frozen=True)
class ExportOptions:
    """How to export: ONNX opset, truncation length, graph fusion, quantisation granularity."""

    opset: int = 18
    max_length: int = 128
    optimize: bool = True
    per_channel: bool = True
    #: 7-bit weights. On CPUs without VNNI (AVX2 only, like this machine) 8-bit u8 x s8 products saturate in
    #: onnxruntime's kernels. Measured on the minilm GPT-4.1 fold-0 student, label agreement with PyTorch on
    #: ClariQ + AmbigNQ: 96.7% per-tensor, 98.7% per-channel, 99.1% per-channel + reduce_range.
    reduce_range: bool = True
    #: Ops whose weights become int8. Embedding lookups (Gather) stay fp32: quantising them cost label
    #: agreement with PyTorch (98.8% -> 99.3% on ClariQ + AmbigNQ without them) and no speed.
    quantize_ops: tuple[str, ...] = ("MatMul", "Attention")
    include_pytorch: bool = True


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                options: ExportOptions | None = None) -> Path:
    """Export a sequence-classification checkpoint to ``out_dir`` (fp32 + int8 ONNX, tokenizer, provenance).

    ``model_dir`` is any directory ``AutoModelForSequenceClassification.from_pretrained`` accepts with a fast
    tokenizer beside it. Returns ``out_dir``. Files are written atomically; an existing export is replaced.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ambig_lib.models.students import float32_kwargs

    options = options or ExportOptions()
    source = Path(model_dir)
    if not (source / "config.json").is_file():
        raise ServingError(f"{source} holds no config.json. Fix: pass a directory written by save_pretrained "
                           "(a run's model directory), not a run folder or a file.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ServingError(f"{source}: no fast tokenizer (tokenizer.json). Fix: save the tokenizer with "
                           "transformers >= 4 so tokenizer.json is written.")
    # eager attention: traceable, and the pattern the onnxruntime BERT fusion recognises
    model = AutoModelForSequenceClassification.from_pretrained(source, **float32_kwargs(),
                                                               attn_implementation="eager").eval()
    if model.config.num_labels != 2:
        raise ServingError(f"{source}: {model.config.num_labels} labels; the predictor serves binary models.")
    input_names = _model_input_names(model, tokenizer)

    raw = out / "model.raw.onnx"
    _torch_export(model, input_names, raw, options.opset)
    try:
        with atomic_path(out / VARIANT_FILES["fp32"]) as tmp:
            fused = _optimize(raw, tmp, model.config) if options.optimize else _copy(raw, tmp)
    finally:
        raw.unlink(missing_ok=True)
    quantize_onnx(out / VARIANT_FILES["fp32"], out / VARIANT_FILES["int8"], options)

    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.enable_truncation(options.max_length)
    with atomic_path(out / TOKENIZER_FILE) as tmp:
        backend.save(str(tmp))
    if options.include_pytorch:
        target = out / PYTORCH_DIR
        if target.exists():
            shutil.rmtree(target)
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    id2label = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
    label_names = [id2label.get(i, DEFAULT_LABEL_NAMES[i]) for i in range(2)]
    if label_names == ["LABEL_0", "LABEL_1"]:
        label_names = list(DEFAULT_LABEL_NAMES)
    write_export_meta(out, options, source_model=paths.portable_path(source.resolve()), source_sha256=_main_weights_sha(source),
                      model_type=model.config.model_type, label_names=label_names, input_names=input_names,
                      transformer_fusion=fused)
    return out


def write_export_meta(out: Path, options: ExportOptions, **fields: Any) -> dict[str, Any]:
    """Write ``export.json``: ``fields`` plus the export options, SHA-256 of every served file and versions."""
    meta = {
        **fields,
        "max_length": options.max_length,
        "opset": options.opset,
        "per_channel": options.per_channel,
        "reduce_range": options.reduce_range,
        "quantize_ops": list(options.quantize_ops),
        "files": {name: sha256_file(out / name) for name in [*VARIANT_FILES.values(), TOKENIZER_FILE]},
        "sizes": {name: (out / name).stat().st_size for name in [*VARIANT_FILES.values(), TOKENIZER_FILE]},
        "versions": software_versions(),
    }
    write_json_atomic(out / EXPORT_META, meta)
    return meta


def _model_input_names(model: Any, tokenizer: Any) -> list[str]:
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and getattr(model.config, "type_vocab_size", 0) > 1:
        names.append("token_type_ids")
    return names


def _torch_export(model: Any, input_names: list[str], target: Path, opset: int) -> None:
    """Export a transformers classifier (``.logits`` of its output) with dynamic batch and sequence axes."""
    import torch

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    class _WrapperWithTypes(_Wrapper):
        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:  # type: ignore[override]
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    wrapper = (_WrapperWithTypes(model) if "token_type_ids" in input_names else _Wrapper(model)).eval()
    torch_export_onnx(wrapper, input_names, target, opset)


def torch_export_onnx(module: Any, input_names: list[str], target: Path, opset: int) -> None:
    """torch.export-based ONNX export of ``module(*inputs) -> logits`` (in eval mode) with dynamic batch and
    sequence axes.

    The TorchScript exporter cannot trace the mask code of transformers 5 (``sdpa_mask`` indexes a traced
    shape); the dynamo exporter handles it and agrees with eager PyTorch to float precision.
    """
    import torch

    module = module.eval()  # a fresh wrapper module is in training mode; export the inference graph
    dummy = tuple(torch.zeros(2, 8, dtype=torch.long) if n == "token_type_ids" else torch.ones(2, 8, dtype=torch.long)
                  for n in input_names)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    with torch.inference_mode():
        torch.onnx.export(module, dummy, str(target), input_names=input_names, output_names=["logits"],
                          dynamic_shapes={n: {0: batch, 1: sequence} for n in input_names},
                          opset_version=opset, dynamo=True, external_data=False, verbose=False)


def _copy(source: Path, target: Path) -> bool:
    shutil.copyfile(source, target)
    return False


def _optimize(raw: Path, target: Path, config: Any) -> bool:
    """Fuse the graph with the onnxruntime transformer optimizer; plain copy when the type is unknown."""
    model_type = _ORT_OPTIMIZER_TYPES.get(config.model_type)
    if model_type is None:
        return _copy(raw, target)
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(raw), model_type=model_type, num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size), opt_level=1, use_gpu=False)
    optimized.save_model_to_file(str(target))
    return True


def quantize_onnx(fp32: Path, target: Path, options: ExportOptions) -> None:
    """Dynamic int8 quantisation of ``options.quantize_ops`` (atomic write of ``target``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target) as tmp:
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=options.per_channel,
                         reduce_range=options.reduce_range, op_types_to_quantize=list(options.quantize_ops))


def _main_weights_sha(source: Path) -> str | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (source / name).is_file():
            return sha256_file(source / name)
    return None


def software_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of the libraries that decide speed and numbers, plus ``extra`` ones (absent ones left out)."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for dist in ("ambig_lib", "torch", "transformers", "tokenizers", "onnx", "onnxruntime", "llama_cpp_python",
                 "numpy", *extra):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return versions


# --------------------------------------------------------------------------------------------- predictor


_REEXPORT = "Fix: export the model directory again (ambig_lib.serving.predictor.export_onnx)."
#: Keys of ``export.json`` the predictor needs.
_META_KEYS = ("input_names", "max_length", "files")


def read_export_meta(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of an exported directory; a clear error when the directory is not an export."""
    folder = Path(model_dir)
    meta_path = folder / EXPORT_META
    if not folder.is_dir():
        raise ServingError(f"Model directory {folder} does not exist. Fix: export one with "
                           "ambig_lib.serving.predictor.export_onnx(run_model_dir, out_dir).")
    if not meta_path.is_file():
        hint = " It looks like a PyTorch checkpoint: export it first." if (folder / "config.json").is_file() else ""
        raise ServingError(f"{folder} holds no {EXPORT_META}, so it is not an exported model.{hint} "
                           "Fix: ambig_lib.serving.predictor.export_onnx(model_dir, out_dir).")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServingError(f"{meta_path} is not valid JSON ({exc}). {_REEXPORT}") from None
    missing = [key for key in _META_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise ServingError(f"{meta_path} lacks {', '.join(missing)}. {_REEXPORT}")
    return meta


def verify_export_files(model_dir: str | os.PathLike[str], meta: dict[str, Any], names: Sequence[str],
                        full: bool = True) -> None:
    """Check served files against ``export.json``: present, the recorded size (always, cheap) and SHA-256 (``full``).

    A file with flipped bytes would otherwise load and answer wrongly with exit status 0. Exports older than
    the recorded sizes get the hash check only.
    """
    folder = Path(model_dir)
    for name in names:
        path = folder / name
        if not path.is_file():
            raise ServingError(f"{path} is missing. {_REEXPORT}")
        size = (meta.get("sizes") or {}).get(name)
        if size is not None and path.stat().st_size != int(size):
            raise ServingError(f"{path} has {path.stat().st_size} bytes, {EXPORT_META} records {size}: the file is "
                               f"truncated or was replaced. {_REEXPORT}")
        expected = meta["files"].get(name)
        if full and expected and sha256_file(path) != expected:
            raise ServingError(f"{path}: SHA-256 differs from the one in {EXPORT_META}: the file is corrupt or was "
                               f"replaced. {_REEXPORT}")


#: The only op onnxruntime's dynamic quantisation quantises without an activation scale (weights only).
WEIGHT_ONLY_QUANTIZE_OPS = frozenset({"Gather"})


def per_batch_activation_scales(meta: dict[str, Any], variant: str) -> bool:
    """True when ``variant`` of this export quantises activations dynamically, with one scale per batch.

    Such a graph gives a query a different answer in a different batch (its scale follows the largest
    activation of its batch-mates), so :class:`Predictor` feeds it one query per call.
    """
    ops = meta.get("quantize_ops", ["MatMul"])
    return variant == "int8" and any(op not in WEIGHT_ONLY_QUANTIZE_OPS for op in ops)


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
            raise ServingError(f"{tokenizer_path} is missing. {_REEXPORT}")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # noqa: BLE001 - the Rust tokenizer raises plain Exception for a bad file
            raise ServingError(f"{tokenizer_path} is not a readable tokenizer ({exc}). {_REEXPORT}") from None
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
        verify_export_files(self.model_dir, self.meta, [VARIANT_FILES[variant], TOKENIZER_FILE], full=verify)
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
            raise ServingError(f"{model_path} is not a loadable ONNX graph ({first}). {_REEXPORT}") from None
        self._output = [self._session.get_outputs()[0].name]

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(self._output, self._feed(ids, mask))[0]


class TorchPredictor(_TokenizingPredictor):
    """The same student in eager PyTorch (fp32): the baseline the exported graphs are checked against."""

    def __init__(self, model_dir: str | os.PathLike[str], threads: int = 1, batch_size: int = 64,
                 device: str = "cpu") -> None:
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


def run_model_dir(student: str, teacher: str, seed: int = 0, fold: int = 0, train_if_missing: bool = False
                  ) -> Path:
    """The saved model of one fold of a training run (``runs/<student>/<teacher>/<seed>/fold_<k>``).

    One fold model is what gets deployed: the fold ensemble would multiply latency by the number of folds.
    Checkpoints are not committed, so with ``train_if_missing`` a missing fold model is trained alone (same
    split, seed and recipe as the run's fold; minutes on a CPU).
    """
    from ambig_lib.training.finetune import run_dir, train_fold_model

    folder = run_dir(student, teacher, seed) / f"fold_{fold}"
    if not (folder / "config.json").is_file() and train_if_missing:
        train_fold_model(student, teacher, seed, fold)
    if not (folder / "config.json").is_file():
        raise ServingError(f"No trained model at {folder}. Fix: run notebooks/03 (training) for student "
                           f"{student!r} on {teacher!r} seed {seed}, or pass model_dir= a save_pretrained directory "
                           "(scripts/make_dev_student.py makes a quick stand-in).")
    return folder
