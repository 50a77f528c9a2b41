"""Metrics, bootstrap intervals and the results tables (``evaluation.csv``, Markdown, side-by-side).

Every number here is computed from prediction TSVs (``initial_request, binary_label, prediction,
probability``) written by training runs and baselines; this module trains nothing. Label 1 = ambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    classification_report,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from ambig_lib.core.errors import AmbigError

CLASS_NAMES = ("clear", "ambiguous")


class EvaluationError(AmbigError):
    """Predictions are missing or do not match the evaluation set."""


def _check_inputs(y_true: Sequence[int], probability: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=float)
    if y.ndim != 1 or y.shape != p.shape:
        raise EvaluationError(f"Labels {y.shape} and probabilities {p.shape} must be equal-length 1-D arrays.")
    if len(y) == 0:
        raise EvaluationError("No examples to evaluate.")
    if not np.isin(y, (0, 1)).all():
        raise EvaluationError("Labels must be 0 (clear) or 1 (ambiguous).")
    if np.isnan(p).any():
        raise EvaluationError("Probabilities contain NaN.")
    return y, p


def binary_metrics(y_true: Sequence[int], probability: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Weighted P/R/F1, macro-F1, balanced accuracy, ROC-AUC, PR-AUC, rate of "ambiguous", per-class report.

    ``prediction = probability >= threshold``. AUCs are NaN when ``y_true`` has a single class.
    """
    y, p = _check_inputs(y_true, probability)
    pred = (p >= threshold).astype(int)
    wp, wr, wf, _ = precision_recall_fscore_support(y, pred, labels=[0, 1], average="weighted", zero_division=0)
    both = len(np.unique(y)) == 2
    report = classification_report(y, pred, labels=[0, 1], target_names=list(CLASS_NAMES), output_dict=True,
                                   zero_division=0)
    return {
        "n": int(len(y)), "weighted_precision": float(wp), "weighted_recall": float(wr), "weighted_f1": float(wf),
        "macro_f1": float(f1_score(y, pred, labels=[0, 1], average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else math.nan,
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "predicted_ambiguous_rate": float(pred.mean()), "accuracy": float(accuracy_score(y, pred)),
        "per_class": {name: report[name] for name in CLASS_NAMES},
    }


def length_controlled_roc_auc(texts: Sequence[str], y_true: Sequence[int], score: Sequence[float]
                              ) -> dict[str, float]:
    """ROC-AUC within bins of equal word count, averaged with weights ``n_clear * n_ambiguous`` per bin.

    This is the probability that a random ambiguous query outscores a random clear one *of the same length*:
    a score that only measures length gets 0.5. ``coverage`` is the share of queries in bins holding both
    classes (the rest cannot be compared at equal length). ``auc`` is NaN when no bin holds both classes.
    """
    y, p = _check_inputs(y_true, score)
    words = np.array([len(str(t).split()) for t in texts])
    if len(words) != len(y):
        raise EvaluationError(f"{len(words)} texts but {len(y)} labels.")
    total_weight, weighted, covered = 0.0, 0.0, 0
    for length in np.unique(words):
        in_bin = words == length
        n1 = int(y[in_bin].sum())
        n0 = int(in_bin.sum()) - n1
        if n1 == 0 or n0 == 0:
            continue
        weight = float(n1 * n0)
        weighted += weight * float(roc_auc_score(y[in_bin], p[in_bin]))
        total_weight += weight
        covered += int(in_bin.sum())
    auc = weighted / total_weight if total_weight else math.nan
    return {"auc": auc, "coverage": covered / len(y)}


def macro_f1_resampled(y: np.ndarray, pred: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Macro-F1 (labels 0 and 1, zero_division=0) of each row of resample indices ``index`` (B x n)."""
    yt = y[index].astype(bool)
    yp = pred[index].astype(bool)
    scores = []
    for truth, guess in ((yt, yp), (~yt, ~yp)):
        tp = (truth & guess).sum(axis=1)
        fp = (~truth & guess).sum(axis=1)
        fn = (truth & ~guess).sum(axis=1)
        denom = 2 * tp + fp + fn
        scores.append(np.divide(2 * tp, denom, out=np.zeros(len(index)), where=denom > 0))
    return (scores[0] + scores[1]) / 2


def roc_auc_resampled(y: np.ndarray, score: np.ndarray, index: np.ndarray) -> np.ndarray:
    """ROC-AUC (Mann-Whitney, ties averaged) of each resample; NaN where a resample has one class."""
    yt = y[index].astype(bool)
    ranks = rankdata(score[index], axis=1)
    n1 = yt.sum(axis=1).astype(float)
    n0 = yt.shape[1] - n1
    rank_sum = np.where(yt, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    auc[(n1 == 0) | (n0 == 0)] = np.nan
    return auc


def bootstrap_ci(y_true: Sequence[int], probabilities: Sequence[Sequence[float]] | np.ndarray, metric: str,
                 n_resamples: int = 1000, seed: int = 0, level: float = 0.95, threshold: float = 0.5
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` (``macro_f1`` or ``roc_auc``) over examples (seeded).

    ``probabilities`` is one array or several (one per training seed, same examples); each resample draws
    the same examples for every seed and scores the mean of the seeds' metric.
    """
    y = np.asarray(y_true, dtype=int)
    probs = np.atleast_2d(np.asarray(probabilities, dtype=float))
    for row in probs:
        _check_inputs(y, row)
    if n_resamples < 1:
        raise EvaluationError("n_resamples must be at least 1.")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(n_resamples, len(y)))
    if metric == "macro_f1":
        stats = np.mean([macro_f1_resampled(y, (row >= threshold).astype(int), index) for row in probs], axis=0)
    elif metric == "roc_auc":
        stats = np.mean([roc_auc_resampled(y, row, index) for row in probs], axis=0)
    else:
        raise EvaluationError(f"Unknown metric {metric!r} for bootstrap; use 'macro_f1' or 'roc_auc'.")
    if np.isnan(stats).all():
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.nanpercentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def evaluate_probabilities(y_true: Sequence[int], probabilities: Sequence[Sequence[float]], n_resamples: int = 1000,
                           seed: int = 0) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Seed-mean metrics, their std over seeds, bootstrap CIs of macro-F1 and ROC-AUC; plus mean per-class report."""
    per_seed = [binary_metrics(y_true, p) for p in probabilities]
    if not per_seed:
        raise EvaluationError("No predictions to evaluate.")
    keys = [k for k in per_seed[0] if k != "per_class"]
    row: dict[str, Any] = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
    row["n"] = per_seed[0]["n"]
    for k in ("macro_f1", "roc_auc", "weighted_f1"):
        values = [m[k] for m in per_seed]
        row[f"{k}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    for metric in ("macro_f1", "roc_auc"):
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = bootstrap_ci(y_true, probabilities, metric,
                                                                         n_resamples, seed)
    per_class = {name: {k: float(np.mean([m["per_class"][name][k] for m in per_seed]))
                        for k in ("precision", "recall", "f1-score", "support")} for name in CLASS_NAMES}
    return row, per_class
