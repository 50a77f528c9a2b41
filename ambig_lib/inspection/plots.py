"""Seaborn figures of the inspection stage, saved as PNG (the evaluation and latency figures live beside)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless; notebooks still display the returned figures
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

LABEL_PALETTE = {"specific": "#4C72B0", "ambiguous": "#DD8452"}


def length_distribution_figure(lengths: pd.DataFrame, column: str = "words") -> plt.Figure:
    """Box plots of query length by label, one row per teacher set."""
    sns.set_theme(style="whitegrid")
    order = list(dict.fromkeys(lengths["teacher"]))
    height = max(3.0, 0.45 * len(order) + 1.5)
    fig, ax = plt.subplots(figsize=(8, height))
    sns.boxplot(data=lengths, y="teacher", x=column, hue="label", order=order, palette=LABEL_PALETTE,
                hue_order=["specific", "ambiguous"], showfliers=False, ax=ax)
    ax.set_xlabel(f"query length ({column})")
    ax.set_ylabel("teacher set")
    ax.set_title(f"Query length by label ({column})")
    ax.legend(title="label", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def shortcut_accuracy_figure(table: pd.DataFrame) -> plt.Figure:
    """Cross-validated accuracy of the length-only and TF-IDF classifiers inside each synthetic set."""
    sns.set_theme(style="whitegrid")
    long = table.melt(id_vars="teacher", value_vars=["length_only_cv_accuracy", "tfidf_cv_accuracy"],
                      var_name="classifier", value_name="cv_accuracy")
    long["classifier"] = long["classifier"].map({"length_only_cv_accuracy": "length only (words)",
                                                 "tfidf_cv_accuracy": "TF-IDF + LR"})
    height = max(3.0, 0.45 * table["teacher"].nunique() + 1.5)
    fig, ax = plt.subplots(figsize=(8, height))
    sns.barplot(data=long, y="teacher", x="cv_accuracy", hue="classifier", ax=ax)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("5-fold CV accuracy inside the synthetic set (chance = 0.5)")
    ax.set_ylabel("teacher set")
    ax.set_title("Shortcuts: how far surface features separate the synthetic classes")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="classifier")
    fig.tight_layout()
    return fig
