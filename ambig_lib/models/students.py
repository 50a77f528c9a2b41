"""Student encoders by name: resolve, load tokenizer and classifier, pick device and threads.

A student is a registered name of the model store (``minilm``, ``mpnet``, ``distilbert``, ``roberta``), a hub
id (when the hub is reachable) or a local directory that ``from_pretrained`` accepts. torch and transformers
are imported inside the functions that load or run a model, so naming a student (run folders, tables, the
command line's ``--help``) stays light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ambig_lib.core.cpu import free_cores
from ambig_lib.core.errors import AmbigError, ModelStoreError
from ambig_lib.models.store import MODELS, resolve_model

#: Students named in the study (the last two come from the hub only).
STUDENT_NAMES: tuple[str, ...] = ("minilm", "mpnet", "distilbert", "roberta")


class StudentError(AmbigError):
    """A student cannot be resolved or loaded."""


@contextmanager
def encoder_only_load() -> Iterator[None]:
    """Load the bare encoder of a checkpoint without transformers' load report.

    ``AutoModel.from_pretrained`` on a checkpoint saved with a head (minilm's payload is a classifier) logs a
    "LOAD REPORT" listing the head's weights as unexpected: expected here, since only the encoder is wanted, and
    the report names the checkpoint by this machine's absolute path, which would then sit in the executed
    notebooks. Errors (missing or mismatched encoder weights) are still raised by transformers.
    """
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def resolve_student(student: str | os.PathLike[str]) -> Path:
    """Local directory of a student (name, hub id or path); a clear error otherwise."""
    text = os.fspath(student)
    if not text.strip():
        raise StudentError("Empty student name. Fix: use one of " + ", ".join(STUDENT_NAMES) + " or a local path.")
    spec = MODELS.get(text)
    if spec is not None and spec.role != "student":
        raise StudentError(f"{text!r} is a {spec.role}, not a student. Fix: use one of {', '.join(STUDENT_NAMES)}.")
    try:
        path = resolve_model(text)
    except ModelStoreError as exc:
        raise StudentError(f"Unknown or unavailable student {text!r}: {exc}") from exc
    if not (Path(path) / "config.json").is_file():
        raise StudentError(f"Student {text!r} resolved to {path}, which holds no config.json. "
                           "Fix: pass a directory saved with save_pretrained.")
    return Path(path)


def student_label(student: str | os.PathLike[str]) -> str:
    """Short, path-safe name of a student for run directories and tables."""
    text = os.fspath(student)
    if text in MODELS:
        return text
    return Path(text.rstrip("/")).name or text


def load_tokenizer(path: str | os.PathLike[str]):  # noqa: ANN201 - a transformers tokenizer
    """Fast tokenizer of a student directory."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.fspath(path))


def float32_kwargs() -> dict[str, Any]:
    """``from_pretrained`` keyword for float32 weights: ``dtype`` (transformers >= 4.56; ``torch_dtype`` is
    deprecated there) or ``torch_dtype`` on older versions."""
    import torch
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": torch.float32}


def load_classifier(path: str | os.PathLike[str], num_labels: int = 2):  # noqa: ANN201
    """Sequence classifier with a fresh head on top of the student's encoder (float32)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head" warnings are expected here
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            os.fspath(path), num_labels=num_labels, id2label={0: "clear", 1: "ambiguous"},
            label2id={"clear": 0, "ambiguous": 1}, **float32_kwargs(),
        )
    finally:
        hf_logging.set_verbosity(verbosity)


def pick_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_threads() -> int:
    """``$AMBIG_TORCH_THREADS``, else the free cores (see :func:`ambig_lib.core.cpu.free_cores`)."""
    return free_cores("AMBIG_TORCH_THREADS")


def set_torch_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (default: ``default_threads()``); returns the number set."""
    import torch

    torch.set_num_threads(max(1, int(threads or default_threads())))
    return torch.get_num_threads()
