"""``ambig export``: export a student to ONNX for serving (fp32 and int8 graphs, tokenizer, ``export.json``).

The source is a ``save_pretrained`` model directory, or one fold of a training run (``--student``,
``--teacher``, ``--seed``, ``--fold``: ``runs/<student>/<teacher>/<seed>/fold_<k>``; ``--train-if-missing``
trains that fold alone when its checkpoint is not on disk). The export is what ``ambig predict`` and
``ambig latency`` serve. ``--option`` sets any field of ``ambig_lib.serving.export.ExportOptions``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ambig_lib.cli.common import (
    UsageError,
    add_offline,
    add_option,
    add_subcommand,
    add_threads,
    dataclass_options,
    parse_options,
    positive_int,
)
from ambig_lib.serving.export import ExportOptions, export_onnx
from ambig_lib.serving.layout import read_export_meta

EXAMPLES = ("ambig export runs/minilm/seed/gpt-4.1/0/fold_0 --out exports/minilm-gpt-4.1",
            "ambig export --student minilm --teacher seed/gpt-4.1 --seed 0 --fold 0 --train-if-missing",
            "ambig predict exports/minilm-gpt-4.1 \"what is java\"")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = add_subcommand(subparsers, "export", "export a student to ONNX (fp32 + int8) for serving", EXAMPLES,
                            description=__doc__)
    parser.add_argument("model_dir", nargs="?", type=Path, default=None,
                        help="a save_pretrained model directory (else --student / --teacher)")
    parser.add_argument("--student", default="minilm", help="student of the run (default: minilm)")
    parser.add_argument("--teacher", default=None, help="teacher set of the run, e.g. seed/gpt-4.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--train-if-missing", action="store_true",
                        help="train the fold alone when its checkpoint is missing (minutes on a CPU)")
    parser.add_argument("--out", type=Path, default=None,
                        help="export folder (default for a run: runs/<student>/<teacher>/<seed>/export)")
    add_option(parser, "an ExportOptions field, repeatable (value parsed as YAML), e.g. per_channel=false")
    parser.add_argument("--max-length", type=positive_int, default=None,
                        help="tokens kept per query (default: ExportOptions.max_length)")
    add_offline(parser)
    add_threads(parser)
    return parser


def export_options(args: argparse.Namespace) -> ExportOptions:
    """``ExportOptions`` defaults, then ``--option``, then ``--max-length``."""
    overrides = dataclass_options(ExportOptions, parse_options(args.option))
    if args.max_length is not None:
        overrides["max_length"] = args.max_length
    return ExportOptions(**overrides)


def run(args: argparse.Namespace) -> int:
    """Export and print the export's provenance summary."""
    if (args.model_dir is None) == (args.teacher is None):
        raise UsageError("give a model directory or --teacher (with --student, --seed, --fold), not "
                         f"{'both' if args.model_dir is not None else 'neither'}.")
    options = export_options(args)
    if args.model_dir is not None:
        source = args.model_dir
        if args.out is None:
            raise UsageError("--out is required when exporting a model directory (where the export goes).")
    else:
        from ambig_lib.training.finetune import fold_model_dir  # imports torch: only for a run's fold

        source = fold_model_dir(args.student, args.teacher, args.seed, args.fold,
                                train_if_missing=args.train_if_missing)
    out = args.out if args.out is not None else source.parent / "export"
    export_onnx(source, out, options)
    meta = read_export_meta(out)
    print(f"exported {source} -> {out}")
    print(f"  labels {meta.get('label_names')}, max_length {meta.get('max_length')}, "
          f"files {', '.join(sorted(meta.get('files', {})))}")
    return 0
