"""Distil the teacher ensemble into the static student (soft labels).

``ambig distil``: knowledge distillation of the teacher ensemble onto the transfer pool (the fast tier).

Builds (or keeps) the transfer pool (``data/pool/``: every synthetic query plus the AmbigNQ train questions, never
an evaluation or development-slice text), has the teacher ensemble (every fold model of the runs
``runs/<teacher-student>/<teacher-set>/<seed>/``) label it with soft probabilities once (cached with provenance:
the teacher runs' hashes and the pool's SHA-256), fits the static student's head on those soft targets (C chosen
by agreement with the teacher on a held-out 10% of the pool, never on evaluation labels) and exports it to ONNX,
served by the same predictor, ``ambig predict`` and ``ambig latency`` as every student. Re-running the same
command picks up a rebuilt pool or retrained teacher runs: that is how a better teacher reaches the fast tier.

Example::

    ambig distil                                                   # mpnet x GPT-4.1 ensemble (GPU-trained folds)
    ambig distil --teacher-student minilm --seeds 0 1 2 --train-if-missing   # CPU: minilm folds
    ambig predict runs/static-distilled-minilm-from-mpnet/seed/gpt-4.1/0/export "what is java"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ambig_lib.cli.common import add_offline, add_threads, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", nargs="+", default=["all"],
                        help="teacher-set specification of the pool's synthetic queries (default: all)")
    parser.add_argument("--teacher-student", default="mpnet", help="student of the teacher runs (default: mpnet)")
    parser.add_argument("--teacher-set", default="seed/gpt-4.1", help="teacher set of the teacher runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the teacher runs")
    parser.add_argument("--folds", type=positive_int, default=5, help="fold models per teacher run")
    parser.add_argument("--static-base", default="minilm", help="the encoder distilled into static vectors")
    parser.add_argument("--train-if-missing", action="store_true",
                        help="train a missing fold model of a teacher run alone (its own split and seed)")
    parser.add_argument("--out", type=Path, default=None, help="export folder (default: <run>/export)")
    add_offline(parser)
    add_threads(parser, "torch threads (AMBIG_TORCH_THREADS; default: the free cores)")


def run(args: argparse.Namespace) -> int:
    """Distil, export and print what was written."""
    # torch (teacher inference) and onnx (export) only when the command runs: ``ambig --help`` stays light
    from ambig_lib.serving.static_export import export_static_onnx
    from ambig_lib.training.distillation import distil

    pool = args.pool[0] if len(args.pool) == 1 else args.pool
    result = distil(pool, args.teacher_student, args.teacher_set, args.seeds, args.static_base,
                    train_if_missing=args.train_if_missing, folds=args.folds)
    target = args.out if args.out is not None else Path(result["run"]) / "export"
    export_static_onnx(result["static_student"], target)
    print(f"pool          {result['pool']} ({result['pool_rows']} queries, {result['pool_status']})")
    print(f"soft labels   {result['soft_labels']} ({result['soft_labels_status']})")
    print(f"student       {result['student']}: C = {result['best_c']}, held-out agreement "
          f"{result['holdout_agreement']}")
    print(f"export        {target}")
    return 0
