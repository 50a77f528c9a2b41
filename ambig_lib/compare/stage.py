"""Notebook 05 (deployment and latency): one call per section. Export of the deployed student, the quality of
each served variant, the static student (fast tier), the distilled tiers (the teacher ensemble served, the small
transformer and the static student distilled on its soft labels), LLM-direct classification, the latency study,
the tier table and the figures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ambig_lib.compare import latency, llm_direct, tiers
from ambig_lib.compare.plots import combine_quality, write_latency_figures
from ambig_lib.data.benchmarks import PUBLISHED_BENCHMARKS
from ambig_lib.evaluation.report import merge_rows
from ambig_lib.serving.export import ExportOptions, export_onnx
from ambig_lib.serving.layout import read_export_meta
from ambig_lib.serving.quality import quality_table, static_quality_table, summary_view, write_quality_table
from ambig_lib.serving.static_export import train_and_export
from ambig_lib.training.distilled_transformer import SmallTransformerConfig
from ambig_lib.training.finetune import fold_model_dir
from ambig_lib.training.static_student import StaticConfig

#: The columns of LLM-direct's rows a reader compares.
LLM_DIRECT_VIEW = ["method", "student", "dataset", "n_total", "n_unparseable", "coverage", "macro_f1", "roc_auc",
                   "weighted_f1"]


@dataclass
class ExportedStudent:
    """The deployed student's export directory and its ``export.json``."""

    dir: Path
    meta: dict[str, Any]


def export_student(student: str, teacher_set: str, seed: int = 0, fold: int = 0,
                   model_dir: str | os.PathLike[str] | None = None, export_dir: str | os.PathLike[str] | None = None,
                   per_channel: bool = True) -> ExportedStudent:
    """Export one fold model of a run (trained alone when its checkpoint is missing), or ``model_dir``."""
    source = Path(model_dir) if model_dir else fold_model_dir(student, teacher_set, seed, fold, train_if_missing=True)
    target = Path(export_dir) if export_dir else source.parent / "export"
    export_onnx(source, target, ExportOptions(per_channel=per_channel))
    return ExportedStudent(target, read_export_meta(target))


@dataclass
class ServedQuality:
    """Quality and agreement of served variants (``serving_quality.csv`` rows)."""

    table: pd.DataFrame

    @property
    def view(self) -> pd.DataFrame:
        """The columns a reader compares (see ``serving.quality.summary_view``)."""
        return summary_view(self.table)


def student_quality(export: ExportedStudent) -> ServedQuality:
    """Every exported variant against eager PyTorch, on every query of the published benchmarks."""
    return ServedQuality(quality_table(export.dir))


@dataclass
class StaticTier:
    """The static student (fast tier): its export (None when not built), the note on its head, and the quality
    table of every served system (written as ``serving_quality.csv``)."""

    target: Path | None
    note: str
    quality: ServedQuality


def static_tier(enabled: bool, teacher_set: str, seed: int, base: str, pca_dims: int, served: ServedQuality
                ) -> StaticTier:
    """Distil, train (topic-grouped CV on the teacher set), export and check the static student; write the
    quality table of every served system."""
    table, target, note = served.table, None, "The static student is switched off (`static_student = False`)."
    if enabled:
        static, target = train_and_export(teacher_set, seed, StaticConfig(base=base, pca_dims=pca_dims))
        selection = static.summary["cv_selection"]
        note = (f"C = {static.summary['best_c']}, chosen by topic-grouped {selection['metric']} cross-validation "
                f"on the teacher set (best {max(selection['scores'].values()):.3f}).")
        table = pd.concat([table, static_quality_table(static, target)], ignore_index=True)
    write_quality_table(table)
    return StaticTier(target, note, ServedQuality(table))


@dataclass
class DistilledTiers:
    """The distilled tiers' exports, what their training chose, and the quality table of every served system
    (written as ``serving_quality.csv``)."""

    exports: dict[str, Path]
    notes: dict[str, dict[str, Any]]
    soft_labels: str
    quality: ServedQuality

    @property
    def view(self) -> pd.DataFrame:
        """The tiers' rows of the quality table."""
        view = self.quality.view
        return view[view["system"].isin(self.exports)]


def distilled_tiers(enabled: Sequence[str], teacher_student: str, teacher_set: str, teacher_seeds: Sequence[int],
                    static: StaticTier, static_base: str, static_pca_dims: int, small_layers: Sequence[int],
                    seed: int = 0, pool: str | Sequence[str] = "all", small_init: str = "fine-tuned",
                    small_candidates: Sequence[str] = tiers.SMALL_CANDIDATES) -> DistilledTiers:
    """Soft labels of the transfer pool by the teacher ensemble (cached), then each tier of ``enabled``: trained
    or reused, exported, checked against its reference; rewrites ``serving_quality.csv`` with their rows.
    ``pool``: the teacher sets whose queries (with AmbigNQ train) form the pool; ``all`` takes in every new set
    (and so re-labels), a list pins it. ``small_init``: ``fine-tuned`` or ``base`` (``SmallTransformerConfig``).
    ``small_candidates``: the small transformer's candidates (``tiers.SMALL_CANDIDATES``); held-out pool agreement
    picks one."""
    if not enabled:
        return DistilledTiers({}, {}, "switched off (distilled_tiers = [])", static.quality)
    built = tiers.build_tiers(teacher_student, teacher_set, teacher_seeds, enabled, pool,
                              static_config=StaticConfig(base=static_base, pca_dims=static_pca_dims),
                              small_config=SmallTransformerConfig(layers=tuple(small_layers), init=small_init),
                              seed=seed, small_candidates=tuple(small_candidates))
    table = pd.concat([static.quality.table, built.quality], ignore_index=True)
    write_quality_table(table)
    label = f"{built.labels.path.name} ({built.labels.status}, {len(built.labels.frame)} pool queries)"
    return DistilledTiers(built.exports, built.notes, label, ServedQuality(table))


@dataclass
class LLMDirect:
    """LLM-direct's evaluation rows and every answer."""

    rows: pd.DataFrame
    answers: pd.DataFrame

    @property
    def view(self) -> pd.DataFrame:
        return self.rows[LLM_DIRECT_VIEW].round(4)


def llm_direct_study(teacher: str, backend: str | None = None, backend_options: Mapping[str, Any] | None = None,
                     offline: bool = False, datasets: Sequence[str] = PUBLISHED_BENCHMARKS,
                     modes: Sequence[str] = llm_direct.MODES, limit: int | None = None) -> LLMDirect:
    """Ask the LLM (through the response cache) about every query; a full run's rows go into ``evaluation.csv``."""
    llm = llm_direct.cached_teacher(llm_direct.build_direct_teacher(teacher, backend=backend,
                                                                    **dict(backend_options or {})), offline=offline)
    rows, answers = llm_direct.evaluate_llm_direct(llm, datasets, modes, limit=limit)
    if limit is None:
        merge_rows(rows)
    return LLMDirect(rows, answers)


@dataclass
class LatencyRun:
    """The latency table, the batch-1 samples, and LLM-direct / student ratios."""

    table: pd.DataFrame
    samples: pd.DataFrame
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def view(self) -> pd.DataFrame:
        return self.table[latency.LATENCY_COLUMNS + ["load_average_1m"]].round(4)

    @property
    def ratios(self) -> pd.DataFrame:
        return latency.ratios(self.table).round(3)


def measure_latency(export: ExportedStudent, static: StaticTier, threads: Sequence[int], llm_teacher: str,
                    llm_modes: Sequence[str], llm_threads: int, config: latency.LatencyConfig,
                    distilled: DistilledTiers | None = None) -> LatencyRun:
    """Batch-1 latency, throughput and cold start of every served system (no response cache: every LLM call
    reaches the model); writes ``latency.csv`` and ``latency_samples.csv``."""
    specs = [s for t in threads for s in latency.student_specs(export.dir, threads=t)]
    if static.target is not None:
        specs += [s for t in threads for s in latency.student_specs(static.target, threads=t,
                                                            variants=("onnx_fp32", "onnx_int8"),
                                                            system="static_student")]
    for system, target in (distilled.exports.items() if distilled is not None else ()):
        specs += [s for t in threads for s in latency.student_specs(target, threads=t, variants=("onnx_int8",),
                                                                    system=system)]
    specs += [latency.llm_spec(llm_teacher, mode, llm_threads) for mode in llm_modes]
    table, samples = latency.run_latency_study(specs, config)
    latency.write_latency_tables(table, samples)
    machine = table[[c for c in table.columns if c == "cpu" or c.startswith("version_")
                     or c in ("logical_cores", "gpu")]].iloc[0].to_dict()
    return LatencyRun(table, samples, machine)


def combined_quality(served: StaticTier | DistilledTiers, llm: LLMDirect) -> pd.DataFrame:
    """Quality of every system (served variants and LLM-direct modes), per dataset."""
    return combine_quality(served.quality.table, llm.rows)


@dataclass
class TierSummary:
    """Quality of every served system (variants, tiers and LLM-direct modes) and the tier table."""

    quality: pd.DataFrame
    table: pd.DataFrame

    @property
    def view(self) -> pd.DataFrame:
        return self.table.round(4)


def tier_summary(run: LatencyRun, served: StaticTier | DistilledTiers, llm: LLMDirect) -> TierSummary:
    """Which tier to use when: p50, throughput, ROC-AUC per benchmark and the gap to the served ensemble of
    every served system at 1 thread; writes ``tiers.csv|md``."""
    quality = combined_quality(served, llm)
    table = tiers.tier_table(run.table, quality)
    tiers.write_tier_table(table)
    return TierSummary(quality, table)


def latency_figures(run: LatencyRun, summary: TierSummary) -> list[Path]:
    """Latency distributions, throughput, quality against latency (published numbers marked), and the Pareto
    figure of the tiers."""
    return list(write_latency_figures(run.table, run.samples, summary.quality, tiers=summary.table).values())
