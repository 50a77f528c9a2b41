"""Command-line predictor: classify queries with an exported student.

    python -m ambig_lib.predict MODEL_DIR "what is java" "who won the 2018 world cup"
    python -m ambig_lib.predict MODEL_DIR --file queries.txt --format jsonl
    cat queries.txt | python -m ambig_lib.predict MODEL_DIR

One query per line (files and stdin; blank lines are skipped). Output, one line per query, in input order:
TSV ``label<TAB>probability<TAB>query`` (with a header) or JSON lines ``{"query", "label", "probability"}``;
``probability`` is P(ambiguous).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .serving import VARIANTS, Predictor, ServingError


def read_queries(args_queries: Sequence[str], file: str | None, stdin: TextIO) -> list[str]:
    """Queries from arguments, else from ``file`` (``-`` = stdin), else from stdin when it is not a terminal."""
    if args_queries and file:
        raise ServingError("Give queries as arguments or with --file, not both.")
    if args_queries:
        return list(args_queries)
    if file and file != "-":
        path = Path(file)
        if not path.is_file():
            raise ServingError(f"--file {file}: no such file.")
        text = path.read_text(encoding="utf-8")
    elif file == "-" or not stdin.isatty():
        text = stdin.read()
    else:
        raise ServingError("No queries: pass them as arguments, with --file F, or on stdin.")
    return [line.strip() for line in text.splitlines() if line.strip()]


def format_lines(queries: Sequence[str], predictions: Sequence[tuple[int, float]], label_names: Sequence[str],
                 fmt: str) -> list[str]:
    """Output lines (TSV with header, or JSON lines) for the predictions."""
    if fmt == "jsonl":
        return [json.dumps({"query": q, "label": label_names[label], "probability": round(prob, 6)},
                           ensure_ascii=False) for q, (label, prob) in zip(queries, predictions, strict=True)]
    lines = ["label\tprobability\tquery"]
    lines += [f"{label_names[label]}\t{prob:.6f}\t{' '.join(q.split())}"
              for q, (label, prob) in zip(queries, predictions, strict=True)]
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ambig_lib.predict",
                                     description="Classify queries as ambiguous or clear with an exported student.")
    parser.add_argument("model_dir", help="directory written by ambig_lib.serving.export_onnx")
    parser.add_argument("queries", nargs="*", help="queries to classify (else --file or stdin)")
    parser.add_argument("--file", "-f", help="file with one query per line ('-' for stdin)")
    parser.add_argument("--format", choices=("tsv", "jsonl"), default="tsv")
    parser.add_argument("--variant", choices=VARIANTS, default="int8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with the reason on stderr)."""
    args = build_parser().parse_args(argv)
    stdout = stdout or sys.stdout
    try:
        queries = read_queries(args.queries, args.file, stdin or sys.stdin)
        if not queries:
            raise ServingError("No queries found in the input.")
        predictor = Predictor(args.model_dir, variant=args.variant, threads=args.threads,
                              batch_size=args.batch_size)
        predictions = predictor.predict(queries)
    except ServingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stdout.write("\n".join(format_lines(queries, predictions, predictor.label_names, args.format)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
