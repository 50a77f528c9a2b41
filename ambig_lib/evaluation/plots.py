"""Seaborn figures of training and evaluation: learning curves, teacher x student heatmaps, ROC curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ambig_lib.core import paths  # noqa: E402
from ambig_lib.core.figures import DENSE_DPI, save_figure  # noqa: E402
from ambig_lib.data.benchmarks import EVAL_SETS  # noqa: E402


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
        save_figure(fig, target, dpi=DENSE_DPI)
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
        save_figure(fig, target, dpi=DENSE_DPI)
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
