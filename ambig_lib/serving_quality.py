"""Quality of the exported variants next to eager PyTorch: metrics per dataset and agreement with PyTorch.

The export check of the latency study: the ONNX fp32 and int8 graphs must give the same labels as the PyTorch
model on (almost) every ClariQ + AmbigNQ query, with close probabilities, and their macro-F1 / ROC-AUC are
reported side by side (``results/tables/serving_quality.csv``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import paths
from .io_utils import write_text_atomic
from .serving import agreement, load_predictor

QUALITY_VARIANTS = {"pytorch_fp32": "pytorch", "onnx_fp32": "fp32", "onnx_int8": "int8"}


def variant_probabilities(model_dir: str | os.PathLike[str], queries: Sequence[str],
                          variants: Sequence[str] = tuple(QUALITY_VARIANTS), threads: int = 2,
                          batch_size: int = 64) -> dict[str, np.ndarray]:
    """P(ambiguous) of every query under each variant (``pytorch_fp32``, ``onnx_fp32``, ``onnx_int8``)."""
    out: dict[str, np.ndarray] = {}
    for variant in variants:
        predictor = load_predictor(model_dir, QUALITY_VARIANTS[variant], threads=threads, batch_size=batch_size)
        out[variant] = predictor.predict_proba(queries)
    return out


def quality_table(model_dir: str | os.PathLike[str], datasets: Sequence[str] = ("clariq", "ambignq"),
                  variants: Sequence[str] = tuple(QUALITY_VARIANTS), threads: int = 2,
                  probabilities: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per variant and dataset (plus ``all``): metrics and agreement with ``pytorch_fp32``.

    ``probabilities`` (variant -> P(ambiguous) over the concatenated datasets) skips the prediction step.
    """
    from .data import load_eval_set
    from .evaluation import binary_metrics

    frames = {name: load_eval_set(name) for name in datasets}
    queries = [q for f in frames.values() for q in f["initial_request"].astype(str)]
    labels = np.concatenate([f["binary_label"].astype(int).to_numpy() for f in frames.values()])
    probs = probabilities if probabilities is not None else variant_probabilities(model_dir, queries, variants,
                                                                                  threads)
    for variant, p in probs.items():
        if len(p) != len(queries):
            raise ValueError(f"{variant}: {len(p)} probabilities for {len(queries)} queries.")
    reference = probs.get("pytorch_fp32")
    bounds: dict[str, slice] = {}
    start = 0
    for name, frame in frames.items():
        bounds[name] = slice(start, start + len(frame))
        start += len(frame)
    bounds["all"] = slice(0, start)
    rows: list[dict[str, Any]] = []
    for variant, p in probs.items():
        for dataset, part in bounds.items():
            metrics = binary_metrics(labels[part], p[part])
            row: dict[str, Any] = {"variant": variant, "dataset": dataset, "n": metrics["n"],
                                   "macro_f1": metrics["macro_f1"], "roc_auc": metrics["roc_auc"],
                                   "weighted_f1": metrics["weighted_f1"], "accuracy": metrics["accuracy"],
                                   "predicted_ambiguous_rate": metrics["predicted_ambiguous_rate"]}
            if reference is not None:
                agree = agreement(reference[part], p[part])
                row.update({"label_agreement_vs_pytorch": agree["label_agreement"],
                            "max_abs_prob_diff_vs_pytorch": agree["max_abs_diff"],
                            "mean_abs_prob_diff_vs_pytorch": agree["mean_abs_diff"]})
            rows.append(row)
    return pd.DataFrame(rows)


def write_quality_table(table: pd.DataFrame, out_dir: Path | None = None) -> Path:
    target = (Path(out_dir) if out_dir is not None else paths.tables_dir()) / "serving_quality.csv"
    write_text_atomic(target, table.to_csv(index=False, float_format="%.4f"))
    return target
