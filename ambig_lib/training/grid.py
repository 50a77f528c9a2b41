"""The resumable training grid: every (student, teacher set, seed) run, optionally in parallel processes.

Small students on ~1000 short queries leave a GPU mostly idle (kernel launches dominate), so ``jobs > 1``
runs several independent runs side by side in spawned worker processes: on a GPU they share the card, on a
CPU the cores are split between them (``AMBIG_TORCH_THREADS`` per worker). Each run is the same
``train_or_reuse`` call as in a single process, so results do not depend on ``jobs``.

Teacher names ``ceiling/clariq`` and ``ceiling/ambignq`` are the supervised ceilings (real labelled training
queries; see :mod:`ambig_lib.training.baselines`); every other name is a synthetic teacher set.

    ambig train --students minilm --teachers all --seeds 0 1 2 --jobs 8      # the command line: ambig_lib.cli.train
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.data.benchmarks import EVAL_SETS, load_eval_set
from ambig_lib.data.ceilings import AMBIGNQ_CEILING_ROWS, CEILING_DATASETS, ceiling_training_frame
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.runs import run_dir
from ambig_lib.training.finetune import TrainConfig, TrainingError, train_or_reuse

DEFAULT_DATASETS = EVAL_SETS


@dataclass(frozen=True)
class GridJob:
    """One run of the grid."""
    student: str
    teacher: str
    seed: int


def job_inputs(teacher: str, config: TrainConfig, datasets: Sequence[str]
               ) -> tuple[pd.DataFrame, TrainConfig, dict[str, pd.DataFrame]]:
    """Training rows, the effective config and the sets to predict for one teacher name."""
    if teacher in CEILING_DATASETS:
        dataset = CEILING_DATASETS[teacher]
        if dataset == "ambignq" and config.max_rows is None:
            config = dataclasses.replace(config, max_rows=AMBIGNQ_CEILING_ROWS)
        return ceiling_training_frame(dataset), config, {dataset: load_eval_set(dataset)}

    return load_teacher_set(teacher), config, {name: load_eval_set(name) for name in datasets}


def run_job(job: GridJob, config: TrainConfig, datasets: Sequence[str], resume: bool = True) -> dict[str, Any]:
    """Train (or reuse) one run; one row of the grid table."""
    frame, effective, predict_sets = job_inputs(job.teacher, config, datasets)
    summary, status = train_or_reuse(job.student, job.teacher, job.seed, frame, effective, predict_sets, resume)
    return {"student": summary["student"], "teacher": job.teacher, "seed": job.seed, "status": status,
            "mean_best_val_macro_f1": summary["mean_best_val_macro_f1"], "wall_s": summary["wall_s"],
            "device": summary.get("device", ""), "run_dir": _shown(run_dir(job.student, job.teacher, job.seed))}


def _shown(path: Path) -> str:
    """``path`` named portably (``runs/...`` wherever the runs folder is): tables stay machine-independent."""
    return paths.portable_path(path.resolve())


def _worker_init(threads: int) -> None:
    os.environ.setdefault("AMBIG_TORCH_THREADS", str(threads))


def run_grid(students: Sequence[str], teachers: Sequence[str], seeds: Sequence[int],
             config: TrainConfig | None = None, datasets: Sequence[str] = DEFAULT_DATASETS,
             resume: bool = True, jobs: int = 1) -> pd.DataFrame:
    """Train every (student, teacher, seed); with ``resume``, reuse runs whose config and data are unchanged.

    ``jobs > 1`` runs that many runs at once in spawned processes (each with ``cores // jobs`` torch threads
    unless ``AMBIG_TORCH_THREADS`` is set). Evaluation sets are only predicted after each run's training.
    Returns one row per run, in grid order.
    """
    config = config or TrainConfig()
    if jobs < 1:
        raise TrainingError(f"jobs={jobs}; use 1 (sequential) or more parallel runs.")

    for teacher in dict.fromkeys(teachers):  # a broken teacher set fails now, not hours into the grid
        if teacher not in CEILING_DATASETS:
            load_teacher_set(teacher)
    grid = [GridJob(s, t, int(seed)) for s in students for t in teachers for seed in seeds]
    if jobs == 1 or len(grid) <= 1:
        rows = [run_job(job, config, datasets, resume) for job in tqdm(grid, desc="grid")]
        return pd.DataFrame(rows)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results: dict[GridJob, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(grid)), mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(threads,)) as pool:
        futures = {pool.submit(run_job, job, config, tuple(datasets), resume): job for job in grid}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"grid ({jobs} jobs)"):
            results[futures[future]] = future.result()
    return pd.DataFrame([results[job] for job in grid])
