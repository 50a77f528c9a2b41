"""The exported model directory: its file names, ``export.json`` and the checks of served files against it.

An exported model directory holds::

    model.onnx         fp32 graph, fused by the onnxruntime transformer optimizer where it knows the model type
    model.int8.onnx    the same graph with int8 dynamically quantised MatMul weights (per channel)
    tokenizer.json     the fast (Rust) tokenizer, truncation set to ``max_length``
    pytorch/           the source model (``save_pretrained``), for the eager-PyTorch baseline and re-export
    export.json        provenance: source, label names, versions, options, SHA-256 of every file
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_file

EXPORT_META = "export.json"
TOKENIZER_FILE = "tokenizer.json"
PYTORCH_DIR = "pytorch"
VARIANT_FILES: dict[str, str] = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
VARIANTS: tuple[str, ...] = tuple(VARIANT_FILES)
DEFAULT_LABEL_NAMES: tuple[str, str] = ("clear", "ambiguous")


class ServingError(AmbigError):
    """An exported model directory is missing, incomplete or incompatible, or the input is malformed."""


REEXPORT_HINT = "Fix: export the model directory again (ambig export MODEL_DIR --out DIR)."
#: Keys of ``export.json`` the predictor needs.
_META_KEYS = ("input_names", "max_length", "files")


def read_export_meta(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of an exported directory; a clear error when the directory is not an export."""
    folder = Path(model_dir)
    meta_path = folder / EXPORT_META
    if not folder.is_dir():
        raise ServingError(f"Model directory {folder} does not exist. Fix: export one with "
                           "ambig export (a model directory or a run's fold; see ambig export --help).")
    if not meta_path.is_file():
        hint = " It looks like a PyTorch checkpoint: export it first." if (folder / "config.json").is_file() else ""
        raise ServingError(f"{folder} holds no {EXPORT_META}, so it is not an exported model.{hint} "
                           "Fix: ambig export MODEL_DIR --out DIR.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServingError(f"{meta_path} is not valid JSON ({exc}). {REEXPORT_HINT}") from None
    missing = [key for key in _META_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise ServingError(f"{meta_path} lacks {', '.join(missing)}. {REEXPORT_HINT}")
    return meta


#: A graph too large for one protobuf keeps its weights in ``<graph><EXTERNAL_DATA_SUFFIX>`` beside it.
EXTERNAL_DATA_SUFFIX = ".data"


def variant_files(meta: dict[str, Any], variant: str) -> list[str]:
    """The files serving ``variant`` reads: its graph, the graph's external data when the export has one, the
    tokenizer."""
    graph = VARIANT_FILES[variant]
    data = graph + EXTERNAL_DATA_SUFFIX
    return [graph, *([data] if data in meta.get("files", {}) else []), TOKENIZER_FILE]


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
            raise ServingError(f"{path} is missing. {REEXPORT_HINT}")
        size = (meta.get("sizes") or {}).get(name)
        if size is not None and path.stat().st_size != int(size):
            raise ServingError(f"{path} has {path.stat().st_size} bytes, {EXPORT_META} records {size}: the file is "
                               f"truncated or was replaced. {REEXPORT_HINT}")
        expected = meta["files"].get(name)
        if full and expected and sha256_file(path) != expected:
            raise ServingError(f"{path}: SHA-256 differs from the one in {EXPORT_META}: the file is corrupt or was "
                               f"replaced. {REEXPORT_HINT}")


#: The only op onnxruntime's dynamic quantisation quantises without an activation scale (weights only).
WEIGHT_ONLY_QUANTIZE_OPS = frozenset({"Gather"})


def per_batch_activation_scales(meta: dict[str, Any], variant: str) -> bool:
    """True when ``variant`` of this export quantises activations dynamically, with one scale per batch.

    Such a graph gives a query a different answer in a different batch (its scale follows the largest
    activation of its batch-mates), so :class:`Predictor` feeds it one query per call.
    """
    ops = meta.get("quantize_ops", ["MatMul"])
    return variant == "int8" and any(op not in WEIGHT_ONLY_QUANTIZE_OPS for op in ops)
