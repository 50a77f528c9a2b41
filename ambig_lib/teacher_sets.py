"""Synthetic teacher sets (``*_balanced_strict.tsv``): one validating loader and a registry of names.

Columns: ``topic, initial_request, binary_label, user_information_need`` (extra columns are kept).
The loader normalises what the published files really contain (labels written ``0.0``/``1.0``, CRLF line
ends, topic case that varies) and rejects what is broken with the file and line number.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import paths
from .data import resolve_public_file
from .errors import TeacherSetError

REQUIRED_COLUMNS = ("topic", "initial_request", "binary_label", "user_information_need")
_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}


@dataclass(frozen=True)
class PublishedTeacherSet:
    """A teacher set published with the original study."""

    name: str
    teacher: str
    file_key: str


PUBLISHED_SETS: dict[str, PublishedTeacherSet] = {
    s.name: s
    for s in [
        PublishedTeacherSet("seed/llama-3.1-8b", "Llama-3.1-8B", "seed/llama31_8b_balanced_strict.tsv"),
        PublishedTeacherSet("seed/llama-3.3-70b", "Llama-3.3-70B", "seed/Llama-3.3-70B-Instruct_balanced_strict.tsv"),
        PublishedTeacherSet("seed/gemma-3-27b", "Gemma-3-27B", "seed/gemma-3-27b-it_balanced_strict.tsv"),
        PublishedTeacherSet("seed/gpt-4.1", "GPT-4.1", "seed/gpt_4_1_balanced_strict.tsv"),
        PublishedTeacherSet("seed/gpt-4.1-mini", "GPT-4.1-mini", "seed/gpt_4_1_mini_balanced_strict.tsv"),
        PublishedTeacherSet("seed/gpt-4.1-nano", "GPT-4.1-nano", "seed/gpt_4_1_nano_balanced_strict.tsv"),
    ]
}


def generated_set_names() -> list[str]:
    """Names (``generated/<stem>``) of the teacher sets written by our generation stage."""
    folder = paths.synthetic_dir()
    if not folder.is_dir():
        return []
    suffix = "_balanced_strict.tsv"
    return sorted(f"generated/{p.name[: -len(suffix)]}" for p in folder.glob(f"*{suffix}"))


def teacher_set_names(include_generated: bool = True) -> list[str]:
    """All registered names: the six published sets, then the generated ones present on disk."""
    names = list(PUBLISHED_SETS)
    return names + generated_set_names() if include_generated else names


def teacher_set_path(name_or_path: str | Path) -> Path:
    """Resolve a registered name (``seed/gpt-4.1``, ``generated/<stem>``) or a path to a local TSV path."""
    text = str(name_or_path)
    if text in PUBLISHED_SETS:
        return resolve_public_file(PUBLISHED_SETS[text].file_key)
    if text.startswith("generated/"):
        path = paths.synthetic_dir() / f"{text.split('/', 1)[1]}_balanced_strict.tsv"
        if not path.is_file():
            raise TeacherSetError(f"Generated teacher set {text!r} not found at {path}. "
                                  "Fix: run notebooks/01_generate.ipynb (or python -m ambig_lib.generate) first.")
        return path
    path = Path(text)
    if path.is_file():
        return path
    raise TeacherSetError(
        f"Unknown teacher set {text!r}: not a registered name and not an existing file. "
        f"Registered: {', '.join(teacher_set_names())}."
    )


def teacher_set_source(name_or_path: str | Path) -> str:
    """Where a teacher set comes from, named without this machine's paths (for provenance).

    A published set is ``mirror:<key>`` (its key in the public-file registry, the layout of the data mirror,
    wherever it was resolved from); any other set is ``paths.portable_path`` of its file
    (``data/synthetic/<stem>_balanced_strict.tsv`` for a generated one).
    """
    text = str(name_or_path)
    if text in PUBLISHED_SETS:
        return f"mirror:{PUBLISHED_SETS[text].file_key}"
    return paths.portable_path(teacher_set_path(text))


def _normalise_topics(topics: list[str]) -> list[str]:
    """Map each topic to its most frequent spelling among case/whitespace variants."""
    variants: dict[str, Counter[str]] = {}
    for topic in topics:
        variants.setdefault(" ".join(topic.split()).casefold(), Counter())[topic.strip()] += 1
    canonical = {key: counts.most_common(1)[0][0] for key, counts in variants.items()}
    return [canonical[" ".join(t.split()).casefold()] for t in topics]


def parse_teacher_set(text: str, source: str = "<string>") -> pd.DataFrame:
    """Parse and validate the TSV text of a teacher set; errors name ``source`` and the line."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TeacherSetError(f"{source}: the file is empty. Fix: it needs a header row "
                              f"{chr(9).join(REQUIRED_COLUMNS)!r} and at least one data row.")
    header = lines[0].split("\t")
    if len(header) == 1:
        sep = "," if "," in lines[0] else ";" if ";" in lines[0] else None
        hint = f" (it looks {sep!r}-separated)" if sep else ""
        raise TeacherSetError(f"{source}, line 1: header has no tab{hint}. Fix: teacher sets are tab-separated "
                              f"with columns {', '.join(REQUIRED_COLUMNS)}.")
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise TeacherSetError(f"{source}, line 1: missing column(s) {', '.join(missing)}; found "
                              f"{', '.join(header)}. Fix: add them (the header must name {', '.join(REQUIRED_COLUMNS)}).")
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_MINIMAL, strict=True)
    next(reader)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for row in reader:
        line_no = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise TeacherSetError(f"{source}, line {line_no}: {len(row)} fields, header has {len(header)}. "
                                  "Fix: one tab between fields, no tabs or newlines inside a field.")
        rows.append(row)
        line_numbers.append(line_no)
    if not rows:
        raise TeacherSetError(f"{source}: no data rows after the header. Fix: add rows or choose another set.")
    frame = pd.DataFrame(rows, columns=header)
    labels: list[int] = []
    for line_no, raw_label, query in zip(line_numbers, frame["binary_label"], frame["initial_request"], strict=True):
        label = _LABELS.get(raw_label.strip())
        if label is None:
            raise TeacherSetError(f"{source}, line {line_no}: binary_label is {raw_label!r}, not 0 or 1. "
                                  "Fix: 0 = specific, 1 = ambiguous.")
        if not query.strip():
            raise TeacherSetError(f"{source}, line {line_no}: empty initial_request. Fix: remove the row or "
                                  "write the query.")
        labels.append(label)
    frame["binary_label"] = labels
    frame["initial_request"] = frame["initial_request"].str.strip()
    frame["topic"] = _normalise_topics(frame["topic"].tolist())
    frame["source_line"] = line_numbers  # ours: overwrites the column of a saved, re-loaded set
    return frame


def load_teacher_set(name_or_path: str | Path) -> pd.DataFrame:
    """Load a teacher set by registered name or path; see ``parse_teacher_set`` for the checks."""
    path = teacher_set_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TeacherSetError(f"{path}: not UTF-8 text ({exc}). Fix: re-save the file as UTF-8.") from exc
    return parse_teacher_set(text, source=str(path))


def teacher_label(name_or_path: str | Path) -> str:
    """Short display name of a teacher set (``GPT-4.1`` for ``seed/gpt-4.1``; the stem for others)."""
    text = str(name_or_path)
    if text in PUBLISHED_SETS:
        return PUBLISHED_SETS[text].teacher
    stem = Path(text).name
    return stem.removesuffix("_balanced_strict.tsv")
