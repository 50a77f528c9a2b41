"""Distil the teacher ensemble into the fast tiers, and serve the ensemble itself.

``ambig distil``: knowledge distillation of the teacher ensemble onto the transfer pool.

Builds (or keeps) the transfer pool (``data/pool/``: every synthetic query plus the AmbigNQ train questions, never
an evaluation or development-slice text) and has the teacher ensemble (every fold model of the runs
``runs/<teacher-student>/<teacher-set>/<seed>/``) label it with soft probabilities once (cached with provenance:
the teacher runs' hashes and the pool's SHA-256). Then, for each tier asked:

- ``teacher_ensemble``: every fold model in one ONNX graph (mean probability), the quality tier;
- ``small_transformer``: the student cut to its first layers, fine-tuned on the soft labels;
- ``static_distilled``: the static student on the soft labels (logistic head on the fixed vectors, or the
  vectors tuned with an MLP head, whichever agrees better with the teacher on the held-out pool split).

Depths, epochs and C are chosen by agreement with the teacher on a held-out 10% of the pool, never on evaluation
labels. Every tier is exported and served by the same predictor, ``ambig predict`` and ``ambig latency`` as every
student. Re-running the same command picks up a rebuilt pool or retrained teacher runs: that is how a better
teacher reaches the fast tiers.

Example::

    ambig distil                                                   # mpnet x GPT-4.1 ensemble (GPU-trained folds)
    ambig distil --teacher-student minilm --seeds 0 --train-if-missing     # CPU: minilm folds
    ambig predict runs/distilled-minilm-from-minilm/seed/gpt-4.1/0/export "what is java"
"""

from __future__ import annotations

import argparse
import re

from ambig_lib.cli.common import add_offline, add_threads, positive_int

TIER_CHOICES = ("teacher_ensemble", "small_transformer", "static_distilled")
#: ``training.distilled_transformer.INIT_CHOICES``, named here so that ``ambig --help`` does not import torch.
SMALL_INIT_CHOICES = ("fine-tuned", "base")
#: tiers.SMALL_CANDIDATES and the names tiers.small_candidate_config accepts, without importing torch
SMALL_CANDIDATE_DEFAULT = ("soft_ce", "logit_mse", "soft_ce+augmented", "soft_ce+augmented20000")
SMALL_CANDIDATE_PATTERN = re.compile(r"(soft_ce|logit_mse)(\+augmented([1-9][0-9]*)?)?")


def small_candidate(text: str) -> str:
    """An argparse type: ``<loss>``, ``<loss>+augmented`` or ``<loss>+augmented<n>``."""
    if not SMALL_CANDIDATE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a small-transformer candidate. Fix: soft_ce or logit_mse, optionally followed by "
            "+augmented (10,000 augmented queries) or +augmented<n>, e.g. soft_ce+augmented20000.")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", nargs="+", default=["all"],
                        help="teacher-set specification of the pool's synthetic queries (default: all)")
    parser.add_argument("--teacher-student", default="mpnet", help="student of the teacher runs (default: mpnet)")
    parser.add_argument("--teacher-set", default="seed/gpt-4.1", help="teacher set of the teacher runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the teacher runs")
    parser.add_argument("--tiers", nargs="+", choices=TIER_CHOICES, default=list(TIER_CHOICES),
                        help="what to build (default: all three)")
    parser.add_argument("--static-base", default="minilm", help="the encoder distilled into static vectors")
    parser.add_argument("--small-layers", nargs="+", type=positive_int, default=[3],
                        help="depths of the small transformer tried (the held-out agreement picks one)")
    parser.add_argument("--small-init", choices=SMALL_INIT_CHOICES, default="fine-tuned",
                        help="the small transformer's starting weights: fold 0 of the student's own run on the "
                             "teacher set (fine-tuned, default) or the pretrained student (base)")
    parser.add_argument("--small-candidates", nargs="+", type=small_candidate,
                        default=list(SMALL_CANDIDATE_DEFAULT),
                        help="the small transformer's candidates (a loss, +augmented adds 10,000 augmented transfer "
                             "queries, +augmented<n> n of them), one run each; held-out pool agreement picks one (default: %(default)s)")
    parser.add_argument("--train-if-missing", action="store_true",
                        help="train a missing fold model of a teacher run alone (its own split and seed)")
    add_offline(parser)
    add_threads(parser, "torch threads (AMBIG_TORCH_THREADS; default: the free cores)")


def run(args: argparse.Namespace) -> int:
    """Distil, export, check every tier against its reference and print what was written."""
    # torch (teacher inference, training) and onnx (export) only when the command runs: ``ambig --help`` stays light
    from ambig_lib.compare.tiers import build_tiers
    from ambig_lib.training.distilled_transformer import SmallTransformerConfig
    from ambig_lib.training.static_student import StaticConfig

    pool = args.pool[0] if len(args.pool) == 1 else args.pool
    built = build_tiers(args.teacher_student, args.teacher_set, args.seeds, args.tiers, pool,
                        static_config=StaticConfig(base=args.static_base),
                        small_config=SmallTransformerConfig(layers=tuple(args.small_layers), init=args.small_init),
                        train_if_missing=args.train_if_missing, small_candidates=args.small_candidates)
    print(f"soft labels   {built.labels.path} ({built.labels.status}, {len(built.labels.frame)} pool queries)")
    for tier, target in built.exports.items():
        rows = built.quality[(built.quality["system"] == tier) & (built.quality["variant"] == "onnx_int8")]
        auc = ", ".join(f"{r.dataset} {r.roc_auc:.3f}" for r in rows.itertuples() if r.dataset != "all")
        print(f"{tier:<18}{target}\n{'':<18}{built.notes[tier]}\n{'':<18}int8 ROC-AUC: {auc}")
    return 0
