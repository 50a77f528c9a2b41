"""Learning curves of a training run: per fold, train loss, held-out synthetic loss and macro-F1 by epoch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ambig_lib.core.figures import DENSE_DPI, save_figure  # noqa: E402


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
        save_figure(fig, target, dpi=DENSE_DPI)
    return fig
