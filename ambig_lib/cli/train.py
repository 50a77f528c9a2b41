"""Fine-tune students on teacher sets (the resumable grid).

``ambig train``: the resumable training grid, every (student, teacher set, seed) run (notebook 03).

Runs whose configuration and training data are unchanged are reused (``--no-resume`` retrains them).
``--jobs N`` trains N runs at once in separate processes (on a GPU they share the card; on a CPU the cores are
split between them). Teacher names ``ceiling/clariq`` and ``ceiling/ambignq`` are the supervised ceilings.
Hyper-parameters not given keep :class:`ambig_lib.training.finetune.TrainConfig`'s defaults; any field of it can
be set with ``--option FIELD=VALUE`` (e.g. ``--option learning_rate=3e-5``).

Example::

    ambig train --students minilm --teachers published --seeds 0
    ambig train --students minilm mpnet --teachers all ceilings --seeds 0 1 2 --jobs 8   # GPU
    ambig train --students minilm --teachers seed/gpt-4.1 --seeds 0 --option learning_rate=3e-5
    ambig train --students minilm --teachers strategies zefcnp --seeds 0 1 2 --datasets transfer   # 04's transfer table
"""

from __future__ import annotations

import argparse
from typing import Any

from ambig_lib.cli import common
from ambig_lib.data.benchmarks import KNOWN_SETS
from ambig_lib.data.ceilings import CEILING_DATASETS
from ambig_lib.data.teacher_sets import load_teacher_set, resolve_teacher_sets

#: The grid's evaluation sets (``ambig_lib.training.grid.DEFAULT_DATASETS``, which imports torch).
DEFAULT_DATASETS = ("clariq", "ambignq", "clariq_test")
#: Shorthand flags -> TrainConfig fields; ``None`` on the command line means the dataclass default.
FLAG_FIELDS = {"folds": "folds", "epochs": "max_epochs", "max_length": "max_length"}

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--students", nargs="+", default=["minilm"])
    parser.add_argument("--teachers", nargs="+", default=["published"],
                        help="names or paths; 'published' = the six published sets, 'all' = published + "
                             "generated, 'ceilings' = the supervised ceilings")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--folds", type=common.positive_int, default=None, help="default: TrainConfig.folds")
    parser.add_argument("--epochs", type=common.positive_int, default=None, help="default: TrainConfig.max_epochs")
    parser.add_argument("--max-length", type=common.positive_int, default=None, help="default: TrainConfig.max_length")
    common.add_option(parser, "any TrainConfig field, repeatable (value parsed as YAML), e.g. learning_rate=3e-5")
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS),
                        help="sets every run predicts; 'transfer' = all of them, CLAMBER and the development slice "
                             "too (04's transfer table)")
    parser.add_argument("--jobs", type=common.positive_int, default=1,
                        help="runs trained at once (processes); e.g. 8 on a GPU")
    parser.add_argument("--no-fold-models", action="store_true",
                        help="do not save the fold checkpoints (predictions and summaries only)")
    parser.add_argument("--no-resume", action="store_true")
    common.add_offline(parser)
    common.add_threads(parser, "torch threads per run (AMBIG_TORCH_THREADS; default: the free cores, split by --jobs)")


def train_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` of the command line: the dataclass defaults, then ``--option``, then the flags."""
    overrides = common.parse_options(args.option)  # a malformed --option fails before torch is imported
    from ambig_lib.training.finetune import TrainConfig  # imports torch: only when training

    overrides = common.dataclass_options(TrainConfig, overrides)
    overrides.update({field: getattr(args, flag) for flag, field in FLAG_FIELDS.items()
                      if getattr(args, flag) is not None})
    if args.no_fold_models:
        overrides["save_fold_models"] = False
    return TrainConfig(**overrides)


def prediction_sets(names: list[str]) -> list[str]:
    """The ``--datasets`` names with ``transfer`` expanded to every known set (order kept, no repeats)."""
    out: list[str] = []
    for name in names:
        out += list(KNOWN_SETS) if name == "transfer" else [name]
    unknown = [n for n in out if n not in KNOWN_SETS]
    if unknown:
        raise common.UsageError(f"--datasets: unknown set(s) {unknown}; choose from {list(KNOWN_SETS)} or "
                                "'transfer'.")
    return list(dict.fromkeys(out))


def run(args: argparse.Namespace) -> int:
    """Run the grid and print one row per run."""
    common.parse_options(args.option)  # a malformed --option fails first (train_config reads it again, after torch)
    datasets = prediction_sets(args.datasets)
    teachers = resolve_teacher_sets(args.teachers)
    for teacher in dict.fromkeys(teachers):  # a typo or a broken set fails now, before torch is imported
        if teacher not in CEILING_DATASETS:
            load_teacher_set(teacher)
    config = train_config(args)
    from ambig_lib.training.grid import run_grid  # imports torch and transformers: only when training

    try:
        table = run_grid(args.students, teachers, args.seeds, config, datasets,
                         resume=not args.no_resume,
                         jobs=args.jobs)
    except KeyboardInterrupt:
        raise common.Interrupted("interrupted; finished runs are kept under runs/ and reused, re-run the same command "
                          "to resume.") from None
    print(table.to_string(index=False))
    return 0
