#!/usr/bin/env python
"""Benchmark: wall time of k-fold CV fine-tuning (default: minilm, 5 folds, a 1000-row teacher set).

    .venv/bin/python scripts/bench_training.py [--student minilm] [--teacher seed/gpt-4.1] [--rows 1000]

Prints the total wall time, the per-fold epochs/time, and whether it meets the 5-minute CPU target. Nothing
is kept (fold checkpoints go to a temporary directory). Note the machine's load: other jobs slow it down.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.training.finetune import TrainConfig, stratified_subsample, train_cv

TARGET_S = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", default="minilm")
    parser.add_argument("--teacher", default="seed/gpt-4.1")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = stratified_subsample(load_teacher_set(args.teacher), args.rows, args.seed)
    config = TrainConfig(folds=args.folds, max_epochs=args.epochs, max_length=args.max_length,
                         torch_threads=args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ambig-bench-") as tmp:
        result = train_cv(frame["initial_request"], frame["binary_label"], args.student, config, args.seed, Path(tmp))
    wall = time.perf_counter() - started
    print(f"student={result.student} teacher={args.teacher} rows={len(frame)} folds={args.folds} "
          f"device={result.device} torch_threads={result.torch_threads} cpu_count={os.cpu_count()} "
          f"load_avg_1min_at_start={load:.2f}")
    for fold in result.folds:
        print(f"  fold {fold.fold}: epochs_run={fold.epochs_run} best_epoch={fold.best_epoch} "
              f"synthetic_val_macro_f1={fold.best_val_macro_f1:.4f} wall_s={fold.wall_s:.1f}")
    verdict = "meets" if wall < TARGET_S else "MISSES"
    print(f"{args.folds}-fold CV wall time: {wall:.1f} s ({wall / 60:.2f} min); {verdict} the {TARGET_S / 60:.0f}-minute target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
