"""The layout of ``runs/``: where each method's predictions and summaries live, and the predictions TSV format.

``runs/<student>/<teacher set>/<seed>/`` holds a fine-tuning run (``training_summary.json``, one
``predictions_<dataset>.tsv`` per evaluation set, git-ignored fold checkpoints);
``runs/baselines/<method>/<teacher set>/`` the sklearn baselines; ``runs/<student>/zero_shot_prototype/`` the
zero-shot baseline. A predictions TSV has the columns ``initial_request, binary_label, prediction,
probability``. Every stage that writes or reads these files goes through this module (it imports no torch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import write_text_atomic
from ambig_lib.models.students import student_label

PREDICTION_COLUMNS = ("initial_request", "binary_label", "prediction", "probability")
SUMMARY_NAME = "training_summary.json"
#: Registered teacher-set families, whose names are their run-directory parts as they stand.
_REGISTERED_PREFIXES = ("seed/", "generated/", "ceiling/", "zefcnp/", "strategy/")


class RunsError(AmbigError):
    """A file under ``runs/`` is missing or malformed."""


def teacher_slug(teacher: str | os.PathLike[str]) -> str:
    """Run-directory part of a teacher set: registered names as is (``seed/gpt-4.1``), files by stem."""
    text = os.fspath(teacher)
    if text.startswith(_REGISTERED_PREFIXES) and ".." not in text:
        return text
    return "custom/" + Path(text).name.removesuffix(".tsv").removesuffix("_balanced_strict")


def run_dir(student: str, teacher: str, seed: int) -> Path:
    """``runs/<student>/<teacher>/<seed>/``."""
    return paths.runs_dir() / student_label(student) / teacher_slug(teacher) / str(int(seed))


def baseline_dir(method: str, student: str = "", teacher: str = "") -> Path:
    """Where a baseline's prediction TSVs live (under ``runs/``)."""
    base = paths.runs_dir()
    if method == "zero_shot_prototype":
        return base / student / method
    if method in ("length_only", "tfidf_lr"):
        return base / "baselines" / method / teacher_slug(teacher)
    raise RunsError(f"No prediction directory for method {method!r}.")


def predictions_file(folder: Path, dataset: str) -> Path:
    """``<folder>/predictions_<dataset>.tsv``."""
    return Path(folder) / f"predictions_{dataset}.tsv"


def write_predictions(path: Path, texts: Sequence[str], labels: Sequence[int], probability: np.ndarray,
                      threshold: float = 0.5) -> None:
    """TSV ``initial_request, binary_label, prediction, probability`` (atomic)."""
    frame = pd.DataFrame({"initial_request": list(texts), "binary_label": [int(v) for v in labels],
                          "prediction": (np.asarray(probability) >= threshold).astype(int),
                          "probability": np.round(np.asarray(probability, dtype=float), 6)})
    write_text_atomic(path, frame.to_csv(sep="\t", index=False))


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions TSV written by ``write_predictions``; a clear error when columns are missing."""
    frame = pd.read_csv(path, sep="\t", dtype={"initial_request": str}, keep_default_na=False)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise RunsError(f"{path}: missing column(s) {missing}; expected {list(PREDICTION_COLUMNS)}.")
    return frame


def load_summary(student: str, teacher: str, seed: int) -> dict[str, Any] | None:
    """The training summary of a run, or None when the run has not finished."""
    path = run_dir(student, teacher, seed) / SUMMARY_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_summaries(student: str, teacher: str, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The finished runs' summaries among ``seeds`` (unfinished ones left out)."""
    found = (load_summary(student, teacher, seed) for seed in seeds)
    return [summary for summary in found if summary is not None]
