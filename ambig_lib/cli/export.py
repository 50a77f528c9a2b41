"""Export a student to ONNX (fp32 + int8) for serving.

``ambig export``: export a student to ONNX for serving (fp32 and int8 graphs, tokenizer, ``export.json``).

The source is a ``save_pretrained`` model directory, or one fold of a training run (``--student``,
``--teacher``, ``--seed``, ``--fold``: ``runs/<student>/<teacher>/<seed>/fold_<k>``; ``--train-if-missing``
trains that fold alone when its checkpoint is not on disk). The export is what ``ambig predict`` and
``ambig latency`` serve. ``--option`` sets any field of ``ambig_lib.serving.export.ExportOptions``.

Example::

    ambig export runs/minilm/seed/gpt-4.1/0/fold_0 --out exports/minilm-gpt-4.1
    ambig export --student minilm --teacher seed/gpt-4.1 --seed 0 --fold 0 --train-if-missing
    ambig predict exports/minilm-gpt-4.1 "what is java"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ambig_lib.cli import common
from ambig_lib.serving.export import ExportOptions, export_onnx
from ambig_lib.serving.layout import read_export_meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    common.add_option(parser, "an ExportOptions field, repeatable (value parsed as YAML), e.g. per_channel=false")
    parser.add_argument("--max-length", type=common.positive_int, default=None,
                        help="tokens kept per query (default: ExportOptions.max_length)")
    common.add_offline(parser)
    common.add_threads(parser)


def export_options(args: argparse.Namespace) -> ExportOptions:
    """``ExportOptions`` defaults, then ``--option``, then ``--max-length``."""
    overrides = common.dataclass_options(ExportOptions, common.parse_options(args.option))
    if args.max_length is not None:
        overrides["max_length"] = args.max_length
    return ExportOptions(**overrides)


def run(args: argparse.Namespace) -> int:
    """Export and print the export's provenance summary."""
    if (args.model_dir is None) == (args.teacher is None):
        raise common.UsageError("give a model directory or --teacher (with --student, --seed, --fold), not "
                         f"{'both' if args.model_dir is not None else 'neither'}.")
    options = export_options(args)
    if args.model_dir is not None:
        source = args.model_dir
        if args.out is None:
            raise common.UsageError("--out is required when exporting a model directory (where the export goes).")
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
