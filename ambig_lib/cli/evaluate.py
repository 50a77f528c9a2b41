"""Build the evaluation tables (baselines, ceilings, students).

``ambig evaluate``: the evaluation tables of notebook 04 from the predictions on disk.

Writes the baselines' predictions (length-only and TF-IDF logistic regression per teacher set, static students,
zero-shot prototype per student; ``--no-baselines`` skips them), the supervised ceilings (``--no-ceilings``
skips them: they train), then ``results/tables/evaluation.csv|.md``, ``evaluation_per_class.csv`` and
``evaluation_vs_published.csv|.md`` with bootstrap 95% intervals. Every requested fine-tuned run must have its
predictions (``ambig train`` first); the LLM-direct rows already in ``evaluation.csv`` are kept.

Example::

    ambig evaluate --students minilm --teachers published --seeds 0 --no-ceilings
    ambig evaluate                         # notebook 04's defaults: minilm mpnet, the study's sets, seeds 0 1 2
"""

from __future__ import annotations

import argparse

from ambig_lib.cli import common
from ambig_lib.data.teacher_sets import resolve_teacher_sets

DEFAULT_DATASETS = ("clariq", "ambignq", "clariq_test")

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--students", nargs="+", default=["minilm", "mpnet"],
                        help="students whose runs (and zero-shot baselines) enter the table")
    parser.add_argument("--teachers", nargs="+", default=["study"],
                        help="teacher-set specification: 'study' (published + generated), 'published', 'all', "
                             "names or paths")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS))
    parser.add_argument("--n-resamples", type=common.positive_int, default=1000,
                        help="bootstrap resamples for the 95%% intervals (default: 1000)")
    parser.add_argument("--no-baselines", action="store_true", help="do not (re)write the baselines' predictions")
    parser.add_argument("--no-ceilings", action="store_true", help="do not train or reuse the supervised ceilings")
    parser.add_argument("--ceiling-students", nargs="+", default=["minilm"])
    parser.add_argument("--ceiling-seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--static-students", nargs="*", default=["minilm"],
                        help="encoders whose static student enters the table (none: give the flag alone)")
    common.add_offline(parser)
    common.add_threads(parser)


def run(args: argparse.Namespace) -> int:
    """Baselines, ceilings, the table; print the headline table and the files written."""
    # baselines, tables and report import torch (students, run folders): only when evaluating
    from ambig_lib.evaluation.report import write_tables
    from ambig_lib.evaluation.tables import evaluation_table
    from ambig_lib.training.baselines import run_baselines

    teachers = resolve_teacher_sets(args.teachers)
    if not args.no_baselines:
        run_baselines(args.students, teachers, args.datasets, ceilings=False, static_bases=args.static_students)
    if not args.no_ceilings:
        run_baselines(args.ceiling_students, [], args.datasets, ceilings=True, ceiling_seeds=args.ceiling_seeds)
    table, per_class = evaluation_table(args.students, teachers, args.seeds, args.datasets, args.n_resamples,
                                        static_bases=args.static_students)
    written = write_tables(table, per_class)
    print(written["md"].read_text(encoding="utf-8"))
    for path in written.values():
        print(f"wrote {path}")
    return 0
