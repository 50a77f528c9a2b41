"""A teacher LLM classifies the benchmark queries directly.

``ambig llm-direct``: a teacher LLM classifies every ClariQ / AmbigNQ (/ CLAMBER) query directly (yes/no).

Asks a teacher backend about every query of the chosen benchmarks through the committed response cache
(``data/llm_direct/<teacher>.cache.jsonl``), prints the evaluation rows and, with ``--merge``, replaces the
teacher's LLM-direct rows in ``results/tables/evaluation.csv``. An interrupted run resumes from the cache, so
the long offline run (2301 queries per mode on a CPU) can be spread over several sittings.

Example::

    ambig llm-direct --teacher qwen2.5-coder-1.5b --modes zero_shot few_shot
    ambig llm-direct --datasets clamber --merge                           # CLAMBER NK + LA (1,200 queries)
    ambig llm-direct --teacher gpt-4.1-mini --backend openai --merge      # OPENAI_API_KEY
    ambig llm-direct --teacher my-model --backend openai --option base_url=http://host:8000/v1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ambig_lib.cli import common
from ambig_lib.compare import llm_direct as direct
from ambig_lib.data.benchmarks import TRANSFER_BENCHMARKS
from ambig_lib.teachers.cache import CachedTeacher

SUMMARY_COLUMNS = ["method", "student", "dataset", "n_total", "n_unparseable", "score", "macro_f1", "roc_auc",
                   "balanced_accuracy", "weighted_f1"]

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b", help="teacher name (default: qwen2.5-coder-1.5b)")
    parser.add_argument("--backend", default=None, help="llamacpp, openai, openai-batch or vllm; "
                        "default: the teacher's registered backend")
    common.add_option(parser)
    parser.add_argument("--datasets", nargs="+", default=["clariq", "ambignq"], choices=list(TRANSFER_BENCHMARKS),
                        help="benchmarks to answer (default: clariq ambignq; clamber = CLAMBER NK + LA)")
    parser.add_argument("--modes", nargs="+", default=list(direct.MODES), choices=list(direct.MODES))
    parser.add_argument("--limit", type=common.positive_int, default=None,
                        help="first N queries per dataset (smoke runs; N >= 1, the number of queries per dataset)")
    parser.add_argument("--cache", type=Path, default=None, help="response cache (default: data/llm_direct/)")
    common.add_offline(parser, "; answers only from the response cache")
    common.add_threads(parser)
    parser.add_argument("--merge", action="store_true",
                        help="write the rows into results/tables/evaluation.csv (refused with --limit)")
    parser.add_argument("--answers-out", type=Path, default=None, help="write every answer to this TSV")


def run(args: argparse.Namespace) -> int:
    """Classify, print the rows, optionally merge them and write the answers."""
    if args.merge and args.limit is not None:
        raise common.UsageError("--merge needs every query; drop --limit.")
    teacher: CachedTeacher | None = None
    try:
        raw = direct.build_direct_teacher(args.teacher, backend=args.backend, **common.parse_options(args.option))
        teacher = direct.cached_teacher(raw, args.cache, offline=args.offline)
        rows, answers = direct.evaluate_llm_direct(teacher, datasets=args.datasets, modes=args.modes,
                                                   limit=args.limit)
    except KeyboardInterrupt:
        raise common.Interrupted(common.interrupted_message(teacher)) from None
    print(rows[[c for c in SUMMARY_COLUMNS if c in rows.columns]].to_string(index=False))
    if args.answers_out is not None:
        args.answers_out.parent.mkdir(parents=True, exist_ok=True)
        answers.to_csv(args.answers_out, sep="\t", index=False)
        print(f"wrote {args.answers_out}")
    if args.merge:
        # evaluation.report imports torch (through the run folders): only --merge needs it
        from ambig_lib.evaluation.report import merge_rows

        print(f"merged into {merge_rows(rows)}")
    return 0
