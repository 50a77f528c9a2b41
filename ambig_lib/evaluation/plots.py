"""Seaborn figures of training and evaluation: learning curves, teacher x student heatmaps, ROC curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ambig_lib.core import paths  # noqa: E402
from ambig_lib.core.io import atomic_path  # noqa: E402
from ambig_lib.data.benchmarks import EVAL_SETS


def _save(fig: plt.Figure, target: Path) -> Path:
    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return target


def learning_curves_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Long frame ``fold, epoch, quantity, value`` from a training summary's per-fold history."""
    rows = []
    for fold in summary["folds"]:
        for step in fold["history"]:
            for quantity in ("train_loss", "val_loss", "val_macro_f1"):
                rows.append({"fold": fold["fold"], "epoch": step["epoch"], "quantity": quantity,
                             "value": step.get(quantity, np.nan), "best_epoch": fold["best_epoch"]})
    return pd.DataFrame(rows)


def plot_learning_curves(summary: Mapping[str, Any], target: Path | None = None) -> plt.Figure:
    """Per-fold train loss, held-out synthetic loss and macro-F1 by epoch (the selected epoch marked)."""
    frame = learning_curves_frame(summary)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, quantity in zip(axes, ("train_loss", "val_loss", "val_macro_f1"), strict=True):
        sub = frame[frame["quantity"] == quantity]
        sns.lineplot(data=sub, x="epoch", y="value", hue="fold", marker="o", ax=ax, palette="tab10")
        best = sub[sub["epoch"] == sub["best_epoch"]]
        ax.scatter(best["epoch"], best["value"], s=90, facecolors="none", edgecolors="black", zorder=5)
        ax.set_title(quantity.replace("_", " ") + (" (synthetic held-out fold)" if "val" in quantity else ""))
        ax.set_ylabel("")
    fig.suptitle(f"{summary['student']} on {summary['teacher']} (seed {summary['seed']}); circles = selected epoch")
    if target is not None:
        _save(fig, target)
    return fig


def plot_heatmap(table: pd.DataFrame, metric: str, dataset: str, target: Path | None = None) -> plt.Figure:
    """Teacher x student heatmap of ``metric`` for fine-tuned rows on ``dataset`` (seed means)."""
    sub = table[(table["method"] == "finetuned") & (table["dataset"] == dataset)]
    grid = sub.pivot_table(index="teacher", columns="student", values=metric, aggfunc="mean")
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * max(1, grid.shape[1]), 1.2 + 0.5 * max(1, grid.shape[0])))
    if grid.empty:
        ax.text(0.5, 0.5, "no fine-tuned runs", ha="center", va="center")
        ax.set_axis_off()
    else:
        sns.heatmap(grid, annot=True, fmt=".3f", cmap="viridis", vmin=0.0 if metric != "roc_auc" else 0.4,
                    vmax=1.0, ax=ax, cbar_kws={"label": metric})
    ax.set_title(f"{metric} on {dataset} (mean over seeds)")
    if target is not None:
        _save(fig, target)
    return fig


def plot_roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], dataset: str,
                    target: Path | None = None) -> plt.Figure:
    """ROC curves of ``label -> (y_true, probability)``, AUC in the legend, chance diagonal."""
    from sklearn.metrics import roc_auc_score

    fig, ax = plt.subplots(figsize=(5.6, 5))
    palette = sns.color_palette("tab10", n_colors=max(3, len(curves)))
    for color, (label, (y, prob)) in zip(palette, curves.items(), strict=False):
        fpr, tpr, _ = roc_curve(y, prob)
        ax.plot(fpr, tpr, color=color, label=f"{label} (AUC {roc_auc_score(y, prob):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance / constant")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (ambiguous)")
    ax.set_title(f"ROC on {dataset}")
    ax.legend(fontsize=7, loc="lower right")
    if target is not None:
        _save(fig, target)
    return fig


def write_eval_figures(table: pd.DataFrame, curves_by_dataset: Mapping[str, Mapping[str, tuple]],
                       datasets: Sequence[str] = EVAL_SETS,
                       out_dir: Path | None = None) -> list[Path]:
    """``eval_heatmap_<metric>_<dataset>.png`` and ``eval_roc_<dataset>.png`` under ``results/figures``."""
    out_dir = Path(out_dir) if out_dir is not None else paths.figures_dir()
    written = []
    for dataset in datasets:
        for metric in ("macro_f1", "roc_auc"):
            target = out_dir / f"eval_heatmap_{metric}_{dataset}.png"
            plot_heatmap(table, metric, dataset, target)
            written.append(target)
        if curves_by_dataset.get(dataset):
            target = out_dir / f"eval_roc_{dataset}.png"
            plot_roc_curves(curves_by_dataset[dataset], dataset, target)
            written.append(target)
    return written
