"""Notebook 04 (evaluation): one call per section. Baselines and ceilings, the results tables (written through
the report), the figures, and the transfer table of the frozen probe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ambig_lib.data.benchmarks import EVAL_SETS
from ambig_lib.data.teacher_sets import resolve_teacher_sets
from ambig_lib.evaluation.plots import write_eval_figures
from ambig_lib.evaluation.report import write_tables
from ambig_lib.evaluation.tables import evaluation_table, roc_sources
from ambig_lib.evaluation.transfer import ProbeConfig, transfer_table, wide_table, write_transfer_tables
from ambig_lib.training.baselines import run_baselines


def write_baselines(students: Sequence[str], teacher_sets: str | Sequence[str], datasets: Sequence[str] = EVAL_SETS,
                    baselines: bool = True, static_students: Sequence[str] = (), ceilings: bool = True,
                    ceiling_students: Sequence[str] = ("minilm",), ceiling_seeds: Sequence[int] = (0,)
                    ) -> pd.DataFrame:
    """Every baseline's predictions (status rows): length-only and TF-IDF per teacher set, the static students,
    the zero-shot prototype per student (``baselines``), then the supervised ceilings (``ceilings``)."""
    parts = []
    if baselines:
        parts.append(run_baselines(students, resolve_teacher_sets(teacher_sets), datasets, ceilings=False,
                                   static_bases=static_students))
    if ceilings:
        parts.append(run_baselines(ceiling_students, [], datasets, ceilings=True, ceiling_seeds=ceiling_seeds))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dataclass
class EvaluationResult:
    """The results table, per-class numbers, and the files the report wrote."""

    table: pd.DataFrame
    per_class: pd.DataFrame
    written: dict[str, Path]
    datasets: tuple[str, ...]


def evaluate_study(students: Sequence[str], teacher_sets: str | Sequence[str], seeds: Sequence[int],
                   datasets: Sequence[str] = EVAL_SETS, n_resamples: int = 1000,
                   static_students: Sequence[str] = ()) -> EvaluationResult:
    """Build the results table from every prediction file and write ``evaluation.*`` (the report)."""
    table, per_class = evaluation_table(students, resolve_teacher_sets(teacher_sets), seeds, datasets, n_resamples,
                                        static_bases=static_students)
    return EvaluationResult(table, per_class, write_tables(table, per_class), tuple(datasets))


def evaluation_figures(result: EvaluationResult) -> list[Path]:
    """Heatmaps per metric and ROC curves per dataset, under ``results/figures``."""
    curves = {dataset: roc_sources(result.table, dataset) for dataset in result.datasets}
    return write_eval_figures(result.table, curves, result.datasets)


@dataclass
class TransferResult:
    """The transfer study: the long table, the probe's fit records, the wide table and the files written."""

    long: pd.DataFrame
    records: pd.DataFrame
    wide: pd.DataFrame
    written: dict[str, Path]


def transfer_study(transfer_sets: str | Sequence[str] = "all", encoder: str = "minilm",
                   n_resamples: int = 1000) -> TransferResult:
    """Probe every training set (frozen encoder + logistic regression) and write ``transfer.*`` and its heatmap."""
    long, records = transfer_table(transfer_sets, ProbeConfig(encoder=encoder, n_resamples=n_resamples))
    return TransferResult(long, records, wide_table(long, records), write_transfer_tables(long, records))
