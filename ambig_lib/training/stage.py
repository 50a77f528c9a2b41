"""Notebook 03 (fine-tuning): one call per section. The grid over students x teacher sets x seeds, the
per-seed summary, the per-fold tables and the learning curves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.markdown import to_markdown
from ambig_lib.data.benchmarks import EVAL_SETS
from ambig_lib.data.teacher_sets import resolve_teacher_sets
from ambig_lib.runs import load_summary
from ambig_lib.training.finetune import TrainConfig, fold_table
from ambig_lib.training.grid import run_grid
from ambig_lib.training.plots import plot_learning_curves


def aggregate_seeds(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Mean and std over seeds of the per-run training numbers (synthetic-val F1, wall time, best epochs)."""
    rows = [{"student": s["student"], "teacher": s["teacher"], "seed": s["seed"],
             "mean_best_val_macro_f1": s["mean_best_val_macro_f1"], "wall_s": s["wall_s"],
             "mean_best_epoch": float(np.mean([f["best_epoch"] for f in s["folds"]]))} for s in summaries]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    return frame.groupby(["student", "teacher"]).agg(
        seeds=("seed", "count"), val_macro_f1_mean=("mean_best_val_macro_f1", "mean"),
        val_macro_f1_std=("mean_best_val_macro_f1", "std"), best_epoch_mean=("mean_best_epoch", "mean"),
        wall_s_mean=("wall_s", "mean"), wall_s_std=("wall_s", "std")).reset_index()


@dataclass
class TrainingStudy:
    """What 03 trained: the plan (student -> teacher sets), one row per run, and the per-seed summary."""

    plan: list[tuple[str, list[str]]]
    seeds: list[int]
    runs: pd.DataFrame
    by_seed: pd.DataFrame


def train_study(students: Sequence[str], teacher_sets: str | Sequence[str], seeds: Sequence[int],
                extra_runs: Mapping[str, str | Sequence[str]] | None = None,
                datasets: Sequence[str] = EVAL_SETS, folds: int = TrainConfig.folds,
                epochs: int = TrainConfig.max_epochs, max_length: int = TrainConfig.max_length) -> TrainingStudy:
    """Train (or reuse) every run of the plan: ``students`` on ``teacher_sets``, plus ``extra_runs``
    (student -> more teacher sets, same seeds); the evaluation sets are predicted after training only."""
    config = TrainConfig(folds=folds, max_epochs=epochs, max_length=max_length)
    teachers = resolve_teacher_sets(teacher_sets)
    plan = [(student, teachers) for student in students]
    plan += [(student, resolve_teacher_sets(sets)) for student, sets in (extra_runs or {}).items()]
    runs = pd.concat([run_grid([student], names, seeds, config, datasets) for student, names in plan],
                     ignore_index=True)
    summaries = [load_summary(r.student, r.teacher, r.seed) for r in runs.itertuples()]
    return TrainingStudy(plan, [int(s) for s in seeds], runs, aggregate_seeds([s for s in summaries if s]))


def _first_seed_summaries(study: TrainingStudy) -> list[dict[str, Any]]:
    found = (load_summary(student, teacher, study.seeds[0]) for student, names in study.plan for teacher in names)
    return [summary for summary in found if summary is not None]


def fold_tables_markdown(study: TrainingStudy) -> str:
    """Per run (first seed): training time and device, then the per-fold table."""
    parts = []
    for summary in _first_seed_summaries(study):
        parts.append(f"**{summary['student']} / {summary['teacher']}** (seed {summary['seed']}): training "
                     f"{summary['train_wall_s']:.0f} s on {summary['device']} ({summary['torch_threads']} threads)"
                     f"\n\n" + to_markdown(fold_table(summary)))
    return "\n\n".join(parts)


def learning_curve_figures(study: TrainingStudy, out_dir: Path | None = None) -> list[Path]:
    """``eval_learning_curves_<student>_<teacher>.png`` per run (first seed), under ``results/figures``."""
    out_dir = Path(out_dir) if out_dir is not None else paths.figures_dir()
    written = []
    for summary in _first_seed_summaries(study):
        target = out_dir / f"eval_learning_curves_{summary['student']}_{str(summary['teacher']).replace('/', '_')}.png"
        plot_learning_curves(summary, target)
        written.append(target)
    return written
