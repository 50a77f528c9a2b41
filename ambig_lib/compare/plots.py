"""Seaborn figures of the latency study, from ``latency.csv`` / ``latency_samples.csv`` (PNG, atomic writes).

* batch-1 latency distributions per system (log scale: the LLM is orders of magnitude slower);
* throughput against batch size;
* quality (macro-F1, ROC-AUC) against batch-1 latency for every system, the published numbers marked;
* the Pareto figure of the tiers (``compare.tiers.tier_table``): ROC-AUC per benchmark against batch-1 p50 and
  against throughput, the non-dominated tiers joined by a line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ambig_lib.core import paths  # noqa: E402
from ambig_lib.core.figures import save_figure  # noqa: E402

PUBLISHED_NOTE = "published (GPU, batch 32, padded to 512; ms per sample as logged)"


def system_label(frame: pd.DataFrame) -> pd.Series:
    """``student onnx_int8 (1 thr)``-style labels."""
    return frame["system"] + " " + frame["variant"] + " (" + frame["threads"].astype(str) + " thr)"


def latency_distribution_figure(samples: pd.DataFrame) -> plt.Figure:
    """Box plots (log x) of per-query batch-1 latency, tokenisation included, one row per system."""
    sns.set_theme(style="whitegrid")
    data = samples.assign(label=system_label(samples))
    order = data.groupby("label")["ms"].median().sort_values().index.tolist()
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.5 * len(order) + 1.5)))
    sns.boxplot(data=data, y="label", x="ms", order=order, whis=(1, 99), showfliers=False, ax=ax, color="#8FB3D9")
    medians = data.groupby("label")["ms"].median()
    for i, label in enumerate(order):
        ax.annotate(f"p50 {medians[label]:.3g} ms", (medians[label], i), xytext=(4, -12),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ms per query at batch 1 (log scale; whiskers p1-p99)")
    ax.set_ylabel("")
    ax.set_title("Latency at batch 1, tokenisation included")
    fig.tight_layout()
    return fig


def throughput_figure(table: pd.DataFrame) -> plt.Figure:
    """Queries per second against batch size (log-log), one line per system."""
    sns.set_theme(style="whitegrid")
    data = table.assign(label=system_label(table))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.lineplot(data=data, x="batch_size", y="throughput_qps", hue="label", marker="o", ax=ax)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (queries per call)")
    ax.set_ylabel("queries per second")
    ax.set_title("Throughput against batch size")
    ax.legend(title="", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def quality_latency_frame(latency: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Join batch-1 p50 with quality rows (``system, variant, dataset, macro_f1, roc_auc``)."""
    b1 = latency[latency["batch_size"] == 1]
    fastest = b1.sort_values("p50_ms").drop_duplicates(["system", "variant"])[["system", "variant", "p50_ms"]]
    return quality.merge(fastest, on=["system", "variant"], how="inner")


def published_points(reference: Path | None = None) -> pd.DataFrame:
    """Published ``(kind, student, dataset, macro_f1, ms_per_sample)`` rows that have a latency."""
    path = reference or paths.published_results_file()
    ref = pd.read_csv(path)
    return ref.dropna(subset=["ms_per_sample"])[["kind", "student", "teacher", "dataset", "macro_f1", "ms_per_sample"]]


def quality_latency_figure(points: pd.DataFrame, published: pd.DataFrame | None = None) -> plt.Figure:
    """Macro-F1 and ROC-AUC against batch-1 p50 latency (log x); published numbers as grey crosses."""
    sns.set_theme(style="whitegrid")
    data = points.assign(label=points["system"] + " " + points["variant"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
    for ax, metric in zip(axes, ("macro_f1", "roc_auc"), strict=True):
        sns.scatterplot(data=data, x="p50_ms", y=metric, hue="label", style="dataset", s=90, ax=ax)
        if metric == "macro_f1" and published is not None and len(published):
            for dataset, marker in (("clariq", "X"), ("ambignq", "P")):
                sub = published[published["dataset"] == dataset]
                ax.scatter(sub["ms_per_sample"], sub["macro_f1"], marker=marker, color="grey", alpha=0.6, s=40,
                           label=f"published, {dataset}")
        ax.set_xscale("log")
        ax.set_xlabel("p50 ms per query at batch 1 (log scale)")
        ax.set_ylabel(metric.replace("_", "-"))
        ax.set_title(f"{metric.replace('_', '-')} against latency")
        ax.legend_.remove() if ax.legend_ else None
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.text(0.01, -0.02, "Grey: " + PUBLISHED_NOTE + " (macro-F1 only; no ROC-AUC published).", fontsize=8)
    fig.tight_layout()
    return fig


def pareto_front(cost: np.ndarray, quality: np.ndarray, lower_cost_is_better: bool = True) -> np.ndarray:
    """Indices of the non-dominated points (no other point is at least as good on both axes and better on one),
    sorted by cost."""
    c = np.asarray(cost, dtype=float) * (1.0 if lower_cost_is_better else -1.0)
    q = np.asarray(quality, dtype=float)
    keep = [i for i in range(len(c)) if np.isfinite(c[i]) and np.isfinite(q[i]) and not any(
        c[j] <= c[i] and q[j] >= q[i] and (c[j] < c[i] or q[j] > q[i])
        for j in range(len(c)) if j != i and np.isfinite(c[j]) and np.isfinite(q[j]))]
    return np.array(sorted(keep, key=lambda i: c[i]), dtype=int)


def pareto_figure(tiers: pd.DataFrame, datasets: tuple[str, ...] = ("clariq", "ambignq", "clamber")) -> plt.Figure:
    """ROC-AUC per benchmark (rows) against batch-1 p50 and against throughput (columns), log x; each system a
    labelled point, the Pareto front a dashed line."""
    sns.set_theme(style="whitegrid")
    data = tiers.assign(label=tiers["system"] + " " + tiers["variant"])
    present = [d for d in datasets if f"roc_auc_{d}" in data and data[f"roc_auc_{d}"].notna().any()]
    fig, axes = plt.subplots(len(present), 2, figsize=(12, 3.6 * len(present)), squeeze=False)
    palette = dict(zip(data["label"], sns.color_palette("tab10", len(data)), strict=False))
    for r, dataset in enumerate(present):
        column = f"roc_auc_{dataset}"
        for c, (cost, lower_better, xlabel) in enumerate((
                ("p50_ms", True, "p50 ms per query at batch 1 (log scale)"),
                ("throughput_qps", False, "queries per second, best batch size (log scale)"))):
            ax = axes[r][c]
            part = data.dropna(subset=[column, cost])
            for _, row in part.iterrows():
                ax.scatter(row[cost], row[column], s=80, color=palette[row["label"]], label=row["label"])
                ax.annotate(row["label"], (row[cost], row[column]), xytext=(4, 4), textcoords="offset points",
                            fontsize=7)
            front = part.iloc[pareto_front(part[cost].to_numpy(), part[column].to_numpy(), lower_better)]
            ax.plot(front[cost], front[column], linestyle="--", color="grey", linewidth=1)
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"ROC-AUC, {dataset}")
            ax.axhline(0.5, color="black", linewidth=0.6, linestyle=":")
    fig.suptitle("Quality against cost of every served tier (dashed: Pareto front; dotted: chance)")
    fig.tight_layout()
    return fig


def write_latency_figures(table: pd.DataFrame, samples: pd.DataFrame | None = None,
                          quality: pd.DataFrame | None = None, out_dir: Path | None = None,
                          tiers: pd.DataFrame | None = None) -> dict[str, Path]:
    """Save every latency figure that the given tables allow; returns name -> path."""
    out_dir = Path(out_dir) if out_dir is not None else paths.figures_dir()
    written: dict[str, Path] = {}
    figures: dict[str, plt.Figure] = {}
    if samples is not None and len(samples):
        figures["latency_batch1_distribution"] = latency_distribution_figure(samples)
    if len(table) and (table["batch_size"] > 1).any():
        figures["latency_throughput"] = throughput_figure(table)
    if quality is not None and len(quality):
        points = quality_latency_frame(table, quality)
        if len(points) and np.isfinite(points["p50_ms"]).any():
            figures["latency_quality"] = quality_latency_figure(points, published_points())
    if tiers is not None and len(tiers):
        figures["tiers_pareto"] = pareto_figure(tiers)
    for name, fig in figures.items():
        written[name] = save_figure(fig, out_dir / f"{name}.png")
        plt.close(fig)
    return written


def combine_quality(student_quality: pd.DataFrame, llm_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """``system, variant, dataset, macro_f1, roc_auc`` for every system: student variants and LLM-direct rows."""
    students = student_quality[student_quality["dataset"] != "all"]
    if "system" not in students:
        students = students.assign(system="student")
    parts = [students[["system", "variant", "dataset", "macro_f1", "roc_auc"]]]
    if llm_rows is not None and len(llm_rows):
        llm = llm_rows.assign(system="llm_direct", variant=llm_rows["method"].str.removeprefix("llm_direct_"))
        parts.append(llm[["system", "variant", "dataset", "macro_f1", "roc_auc"]])
    return pd.concat(parts, ignore_index=True)
