"""Quality of the exported variants next to their reference: metrics per dataset and agreement with it.

The export check of the latency study: the ONNX fp32 and int8 graphs must give the same labels as the model
they were exported from (eager PyTorch for a transformer student, Model2Vec + the numpy head for the static
student) on (almost) every ClariQ, AmbigNQ and CLAMBER query, with close probabilities, and their macro-F1 / ROC-AUC are
reported side by side (``results/tables/serving_quality.csv``, one block per system).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.io import write_text_atomic
from ambig_lib.data.benchmarks import TRANSFER_BENCHMARKS, load_eval_set
from ambig_lib.evaluation.metrics import binary_metrics
from ambig_lib.serving.predictor import agreement, load_predictor

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


def evaluation_queries(datasets: Sequence[str] = TRANSFER_BENCHMARKS) -> list[str]:
    """The queries of ``datasets``, concatenated in order (the order ``quality_table`` expects)."""
    return [q for name in datasets for q in load_eval_set(name)["initial_request"].astype(str)]


def quality_table(model_dir: str | os.PathLike[str], datasets: Sequence[str] = TRANSFER_BENCHMARKS,
                  variants: Sequence[str] = tuple(QUALITY_VARIANTS), threads: int = 2,
                  probabilities: dict[str, np.ndarray] | None = None, reference: str = "pytorch_fp32",
                  system: str = "student") -> pd.DataFrame:
    """One row per variant and dataset (plus ``all``): metrics and agreement with the ``reference`` variant.

    ``probabilities`` (variant -> P(ambiguous) over the concatenated datasets) skips the prediction step; it may
    hold variants no predictor serves (the static student's ``reference_fp32``).
    """
    frames = {name: load_eval_set(name) for name in datasets}
    queries = [q for f in frames.values() for q in f["initial_request"].astype(str)]
    labels = np.concatenate([f["binary_label"].astype(int).to_numpy() for f in frames.values()])
    probs = probabilities if probabilities is not None else variant_probabilities(model_dir, queries, variants,
                                                                                  threads)
    for variant, p in probs.items():
        if len(p) != len(queries):
            raise ValueError(f"{variant}: {len(p)} probabilities for {len(queries)} queries.")
    reference_probs = probs.get(reference)
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
            row: dict[str, Any] = {"system": system, "variant": variant, "dataset": dataset, "n": metrics["n"],
                                   "macro_f1": metrics["macro_f1"], "roc_auc": metrics["roc_auc"],
                                   "weighted_f1": metrics["weighted_f1"], "accuracy": metrics["accuracy"],
                                   "predicted_ambiguous_rate": metrics["predicted_ambiguous_rate"]}
            if reference_probs is not None:
                agree = agreement(reference_probs[part], p[part])
                row.update({"reference": reference, "label_agreement_vs_reference": agree["label_agreement"],
                            "max_abs_prob_diff_vs_reference": agree["max_abs_diff"],
                            "mean_abs_prob_diff_vs_reference": agree["mean_abs_diff"]})
            rows.append(row)
    return pd.DataFrame(rows)


def write_quality_table(table: pd.DataFrame, out_dir: Path | None = None) -> Path:
    target = (Path(out_dir) if out_dir is not None else paths.tables_dir()) / "serving_quality.csv"
    write_text_atomic(target, table.to_csv(index=False, float_format="%.4f"))
    return target


def static_quality_table(student: Any, export_dir: str | os.PathLike[str],
                         datasets: Sequence[str] = TRANSFER_BENCHMARKS, threads: int = 2,
                         system: str = "static_student") -> pd.DataFrame:
    """The static student's rows: the Model2Vec + numpy reference, ONNX fp32 and int8, agreement with the reference.

    ``student`` is a ``static_student.StaticStudent``.
    """
    return reference_quality_table(student.predict_proba, export_dir, datasets, threads, system)


def reference_quality_table(reference: Callable[[list[str]], np.ndarray], export_dir: str | os.PathLike[str],
                            datasets: Sequence[str] = TRANSFER_BENCHMARKS, threads: int = 2,
                            system: str = "static_student") -> pd.DataFrame:
    """Rows of an export whose reference is not its ``pytorch/`` copy (the static student's Model2Vec + numpy
    head, the fold ensemble's PyTorch members): ``reference(queries)`` as ``reference_fp32``, ONNX fp32 and int8."""
    queries = evaluation_queries(datasets)
    probabilities = {"reference_fp32": np.asarray(reference(queries), dtype=np.float64)}
    probabilities.update(variant_probabilities(export_dir, queries, ("onnx_fp32", "onnx_int8"), threads))
    return quality_table(export_dir, datasets, probabilities=probabilities, reference="reference_fp32",
                         system=system)


def summary_view(table: pd.DataFrame) -> pd.DataFrame:
    """Quality and agreement with the reference per served variant (the columns a reader compares)."""
    columns = ["system", "variant", "dataset", "n", "macro_f1", "roc_auc", "label_agreement_vs_reference",
               "mean_abs_prob_diff_vs_reference", "max_abs_prob_diff_vs_reference"]
    view = table[[c for c in columns if c in table]].copy()
    return view.rename(columns=lambda c: c.replace("_vs_reference", "")).round(4)
