"""Command line for LLM-direct classification (``ambig-llm-direct`` / ``python -m ambig_lib.cli.llm_direct``).

Asks a teacher backend about every ClariQ / AmbigNQ query through the committed response cache
(``data/llm_direct/<teacher>.cache.jsonl``), prints the evaluation rows and, with ``--merge``, replaces the
teacher's LLM-direct rows in ``results/tables/evaluation.csv``. An interrupted run resumes from the cache, so
the long offline run (2301 queries per mode on a CPU) can be spread over several sittings:

    python -m ambig_lib.cli.llm_direct --teacher qwen2.5-coder-1.5b --modes zero_shot few_shot
    python -m ambig_lib.cli.llm_direct --teacher gpt-4.1-mini --backend openai      # OPENAI_API_KEY
    python -m ambig_lib.cli.llm_direct --teacher my-model --backend openai --option base_url=http://host:8000/v1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ambig_lib.cli.generate import interrupted_message, parse_options
from ambig_lib.compare.llm_direct import MODES, cached_teacher, evaluate_llm_direct
from ambig_lib.core.errors import AmbigError
from ambig_lib.evaluation.report import merge_rows
from ambig_lib.teachers.cache import CachedTeacher

SUMMARY_COLUMNS = ["method", "student", "dataset", "n_total", "n_unparseable", "score", "macro_f1", "roc_auc",
                   "balanced_accuracy", "weighted_f1"]


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number >= 1 (``--limit -1`` used to drop the last query silently)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1 (it is the number of queries per dataset)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ambig-llm-direct", description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b", help="teacher name (default: qwen2.5-coder-1.5b)")
    parser.add_argument("--backend", default=None, help="llamacpp, openai, openai-batch or vllm; "
                        "default: the teacher's registered backend")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, repeatable (value parsed as YAML), e.g. base_url=...")
    parser.add_argument("--datasets", nargs="+", default=["clariq", "ambignq"], choices=["clariq", "ambignq"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="first N queries per dataset (smoke runs; N >= 1)")
    parser.add_argument("--cache", type=Path, default=None, help="response cache (default: data/llm_direct/)")
    parser.add_argument("--offline", action="store_true", help="answer only from the response cache")
    parser.add_argument("--merge", action="store_true",
                        help="write the rows into results/tables/evaluation.csv (refused with --limit)")
    parser.add_argument("--answers-out", type=Path, default=None, help="write every answer to this TSV")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Classify, print the rows, optionally merge them and write the answers."""
    args = build_parser().parse_args(argv)
    if args.merge and args.limit is not None:
        print("error: --merge needs every query; drop --limit.", file=sys.stderr)
        return 2
    teacher: CachedTeacher | None = None
    try:
        from ambig_lib.compare.llm_direct import build_direct_teacher

        raw = build_direct_teacher(args.teacher, backend=args.backend, **parse_options(args.option))
        teacher = cached_teacher(raw, args.cache, offline=args.offline)
        rows, answers = evaluate_llm_direct(teacher, datasets=args.datasets, modes=args.modes, limit=args.limit)
    except AmbigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message(teacher), file=sys.stderr)
        return 130
    print(rows[[c for c in SUMMARY_COLUMNS if c in rows.columns]].to_string(index=False))
    if args.answers_out is not None:
        args.answers_out.parent.mkdir(parents=True, exist_ok=True)
        answers.to_csv(args.answers_out, sep="\t", index=False)
        print(f"wrote {args.answers_out}")
    if args.merge:
        print(f"merged into {merge_rows(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
