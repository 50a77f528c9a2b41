"""Inspect teacher sets: lengths, defects, shortcut audit.

``ambig inspect``: inspect teacher sets (notebook 02): size, defects, lengths and the shortcut audit.

Writes ``results/tables/inspect_synthetic.csv|.md`` and the length and shortcut figures under
``results/figures/`` (``--no-write`` only prints the table). The shortcut audit is the cross-validated accuracy
of a length-only and a TF-IDF classifier on each set: 0.5 is chance; a high length-only accuracy means a student
can read the label off the query length.

Example::

    ambig inspect                                   # every teacher set ('all')
    ambig inspect --teachers published generated/qwen2.5-coder-1.5b_length_matched --no-write
"""

from __future__ import annotations

import argparse

from ambig_lib.cli import common
from ambig_lib.inspection.stage import run_inspection, summary_view


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teachers", nargs="+", default=["all"],
                        help="teacher-set specification: names, paths or keywords ('published', 'generated', "
                             "'all', ...); default: all")
    parser.add_argument("--tokenizer", default="minilm",
                        help="model whose WordPiece tokenizer counts tokens (default: minilm); 'none' skips tokens")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shortcut audit's folds (default: 0)")
    parser.add_argument("--folds", type=common.positive_int, default=5, help="folds of the shortcut audit (default: 5)")
    parser.add_argument("--no-write", action="store_true", help="print the table; write no file")
    common.add_offline(parser)
    common.add_threads(parser)


def run(args: argparse.Namespace) -> int:
    """Inspect, print the summary columns and the files written."""
    tokenizer = None if args.tokenizer.lower() == "none" else args.tokenizer
    result = run_inspection(args.teachers, tokenizer_model=tokenizer, seed=args.seed, folds=args.folds,
                            write=not args.no_write)
    print(summary_view(result.table).to_string(index=False))
    for path in result.files:
        print(f"wrote {path}")
    return 0
