r"""Classify queries with an exported student (ONNX).

``ambig predict``: classify queries as ambiguous or clear with an exported student.

Options may come before or after the queries. Files and stdin hold one query per line: lines are split on
``\n`` only (``\r\n`` accepted; form feed, NEL or U+2028 inside a line stay part of that query), and blank
lines are skipped, so output row k answers the k-th non-blank input line. Input must be UTF-8: a line that is
not is an error naming its line number, and nothing is classified (a replaced character would be a different
query, and its answer a wrong one). A line holding only control characters (such as NUL) is an error too.
Queries longer than the export's ``max_length`` tokens (64 for the study's students) are classified on their
first ``max_length`` tokens; the command says which on stderr. Output, one line per query, in input order:
TSV ``label<TAB>probability<TAB>query`` (with a header) or JSON lines ``{"query", "label", "probability"}``;
``probability`` is P(ambiguous). Errors: one line on stderr, exit status 2.

Example::

    ambig predict MODEL_DIR "what is java" "who won the 2018 world cup"
    ambig predict MODEL_DIR --file queries.txt --format jsonl
    cat queries.txt | ambig predict MODEL_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ambig_lib.cli.common import add_threads, positive_int
from ambig_lib.serving.layout import VARIANTS, ServingError
from ambig_lib.serving.predictor import Predictor, has_text


def split_lines(data: bytes | str, source: str) -> list[str]:
    r"""Queries of a file or stdin: split on ``\n`` only, UTF-8 strictly, blank lines skipped.

    Raises :class:`ServingError` naming the first lines that are not UTF-8 or hold only control characters.
    """
    raw_lines = data.split(b"\n") if isinstance(data, bytes) else data.split("\n")
    queries: list[str] = []
    undecodable: list[str] = []
    control_only: list[int] = []
    for number, raw in enumerate(raw_lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                undecodable.append(f"{number} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                continue
        else:
            line = raw
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.removesuffix("\r").strip()
        if not line:
            continue
        if not has_text(line):
            control_only.append(number)
            continue
        queries.append(line)
    if undecodable:
        raise ServingError(f"{source}: line {', '.join(undecodable[:5])}"
                           f"{f' and {len(undecodable) - 5} more' if len(undecodable) > 5 else ''} not UTF-8; "
                           "nothing was classified. Fix: re-encode the input as UTF-8 (iconv -f latin1 -t utf-8).")
    if control_only:
        raise ServingError(f"{source}: line {', '.join(map(str, control_only[:5]))} holds only control characters "
                           "(such as NUL); nothing was classified. Fix: remove those lines.")
    return queries


def read_queries(args_queries: Sequence[str], file: str | None, stdin: TextIO) -> list[str]:
    """Queries from arguments, else from ``file`` (``-`` = stdin), else from stdin when it is not a terminal."""
    if args_queries and file:
        raise ServingError("Give queries as arguments or with --file, not both.")
    if args_queries:
        bad = [i + 1 for i, q in enumerate(args_queries) if not has_text(q)]
        if bad:
            raise ServingError(f"query argument {', '.join(map(str, bad))} is empty or control characters only.")
        return list(args_queries)
    if file and file != "-":
        path = Path(file)
        if not path.is_file():
            raise ServingError(f"--file {file}: no such file.")
        return split_lines(path.read_bytes(), f"--file {file}")
    if file == "-" or not stdin.isatty():
        buffer = getattr(stdin, "buffer", None)
        return split_lines(buffer.read() if buffer is not None else stdin.read(), "stdin")
    raise ServingError("No queries: pass them as arguments, with --file F, or on stdin.")


#: Characters JSON leaves raw (with ensure_ascii=False) that line splitters such as str.splitlines break on.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _one_line(record: str) -> str:
    """A JSON record with NEL / U+2028 / U+2029 escaped, so one record is one line for any line splitter."""
    for raw, escaped in _LINE_BREAKS.items():
        record = record.replace(raw, escaped)
    return record


def format_lines(queries: Sequence[str], predictions: Sequence[tuple[int, float]], label_names: Sequence[str],
                 fmt: str) -> list[str]:
    """Output lines (TSV with header, or JSON lines) for the predictions."""
    if fmt == "jsonl":
        return [_one_line(json.dumps({"query": q, "label": label_names[label], "probability": round(prob, 6)},
                                     ensure_ascii=False))
                for q, (label, prob) in zip(queries, predictions, strict=True)]
    lines = ["label\tprobability\tquery"]
    lines += [f"{label_names[label]}\t{prob:.6f}\t{' '.join(q.split())}"
              for q, (label, prob) in zip(queries, predictions, strict=True)]
    return lines



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="directory written by ambig export (ambig_lib.serving.export.export_onnx)")
    parser.add_argument("queries", nargs="*", help="queries to classify (else --file or stdin)")
    parser.add_argument("--file", "-f", help="file with one query per line ('-' for stdin)")
    parser.add_argument("--format", choices=("tsv", "jsonl"), default="tsv")
    parser.add_argument("--variant", choices=VARIANTS, default="int8")
    add_threads(parser, "onnxruntime threads (default: 1)", default=1)
    parser.add_argument("--batch-size", type=positive_int, default=64)


def run(args: argparse.Namespace) -> int:
    """Classify the queries and print one line each (a :class:`ServingError` is the one-line exit 2)."""
    queries = read_queries(args.queries, args.file, sys.stdin)
    if not queries:
        raise ServingError("No queries found in the input.")
    predictor = Predictor(args.model_dir, variant=args.variant, threads=args.threads, batch_size=args.batch_size)
    predictions = predictor.predict(queries)
    cut = predictor.truncated(queries)
    if cut:
        shown = ", ".join(str(i + 1) for i in cut[:10]) + (f" and {len(cut) - 10} more" if len(cut) > 10 else "")
        print(f"note: query {shown} longer than {predictor.max_length} tokens: classified on the first "
              f"{predictor.max_length} tokens.", file=sys.stderr)
    sys.stdout.write("\n".join(format_lines(queries, predictions, predictor.label_names, args.format)) + "\n")
    return 0
