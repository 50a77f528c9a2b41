"""Synthetic teacher sets (``*_balanced_strict.tsv``): one validating loader and a registry of names.

Columns: ``topic, initial_request, binary_label, user_information_need`` (extra columns are kept).
The loader normalises what the published files really contain (labels written ``0.0``/``1.0``, CRLF line
ends, topic case that varies, CSV-quoted fields such as ``"Who directed ""Parasite""?"``) and rejects what is
broken with the file and line number: a field that opens a quote it does not close on the same line (it would
swallow the following rows) or a stray quote after a quoted part (``"Best" pizza``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.errors import TeacherSetError
from ambig_lib.data.ceilings import CEILING_DATASETS
from ambig_lib.data.public_files import resolve_public_file

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


@dataclass(frozen=True)
class ExternalTeacherSet:
    """A public synthetic set from other work (Zef-CNP): CSV ``<index>, initial_request, binary_label``,
    no topic column. Each row becomes its own topic (``row-<index>``), so topic-grouped folds are folds
    stratified by label."""

    name: str
    teacher: str
    file_key: str
    citation: str


EXTERNAL_SETS: dict[str, ExternalTeacherSet] = {
    s.name: s
    for s in [
        ExternalTeacherSet("zefcnp/gpt-4o-mini", "Zef-CNP GPT-4o-mini",
                           "zefcnp/gpt4o_topic_in_generation_5k_unique_final.csv", "Zef-CNP, ECIR 2025"),
        ExternalTeacherSet("zefcnp/llama-3.1-8b", "Zef-CNP Llama-3.1-8B",
                           "zefcnp/llama3.1_topic_in_generation_unique_5k_final.csv", "Zef-CNP, ECIR 2025"),
    ]
}

_SUFFIX = "_balanced_strict.tsv"


def _sets_in(folder: Path, prefix: str) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(f"{prefix}/{p.name[: -len(_SUFFIX)]}" for p in folder.glob(f"*{_SUFFIX}"))


def strategy_dir() -> Path:
    """Where the generation strategies of the transfer study write their sets (``strategy/<stem>``)."""
    return paths.synthetic_dir() / "strategies"


def generated_set_names() -> list[str]:
    """Names (``generated/<stem>``) of the teacher sets written by our generation stage (01's styles)."""
    return _sets_in(paths.synthetic_dir(), "generated")


def strategy_set_names() -> list[str]:
    """Names (``strategy/<stem>``) of the sets of the transfer study's strategies and their controls."""
    return _sets_in(strategy_dir(), "strategy")


#: The families a set specification may name, in the order they are listed.
SET_FAMILIES = ("published", "zefcnp", "generated", "strategies")


def family_names(family: str) -> list[str]:
    """The set names of one family of :data:`SET_FAMILIES`."""
    if family == "published":
        return list(PUBLISHED_SETS)
    if family == "zefcnp":
        return list(EXTERNAL_SETS)
    if family == "generated":
        return generated_set_names()
    if family == "strategies":
        return strategy_set_names()
    raise TeacherSetError(f"Unknown teacher-set family {family!r}; choose one of {', '.join(SET_FAMILIES)}.")


#: Keywords of a set specification: each family, ``study`` (published + generated: the sets 03 and 04 train and
#: evaluate) and ``all`` (every family).
SET_KEYWORDS: dict[str, tuple[str, ...]] = {**{f: (f,) for f in SET_FAMILIES},
                                            "study": ("published", "generated"), "all": SET_FAMILIES}


#: The keyword naming both supervised ceilings (real labelled training rows; see ``data.ceilings``).
CEILINGS_KEYWORD = "ceilings"


def teacher_set_names(include_generated: bool = True) -> list[str]:
    """The published sets, then (``include_generated``) the generated ones present on disk: the ``study``."""
    return resolve_teacher_sets("study" if include_generated else "published")


def resolve_teacher_sets(spec: str | Path | list[str] | tuple[str, ...]) -> list[str]:
    """A set specification as names: a keyword of :data:`SET_KEYWORDS`, ``ceilings`` (the supervised ceilings'
    runs, for training), a name or path, or a list of these (duplicates dropped, order kept)."""
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    names: list[str] = []
    for item in items:
        text = str(item)
        if text in SET_KEYWORDS:
            for family in SET_KEYWORDS[text]:
                names += family_names(family)
        elif text == CEILINGS_KEYWORD:
            names += list(CEILING_DATASETS)
        else:
            names.append(text)
    return list(dict.fromkeys(names))


def teacher_set_path(name_or_path: str | Path) -> Path:
    """Resolve a registered name (``seed/gpt-4.1``, ``generated/<stem>``) or a path to a local TSV path."""
    text = str(name_or_path)
    if text in PUBLISHED_SETS:
        return resolve_public_file(PUBLISHED_SETS[text].file_key)
    if text in EXTERNAL_SETS:
        return resolve_public_file(EXTERNAL_SETS[text].file_key)
    if text.startswith("strategy/"):
        path = strategy_dir() / f"{text.split('/', 1)[1]}{_SUFFIX}"
        if not path.is_file():
            raise TeacherSetError(f"Strategy set {text!r} not found at {path}. Fix: build it first "
                                  "(ambig strategies; see ambig strategies --help).")
        return path
    if text.startswith("generated/"):
        path = paths.synthetic_dir() / f"{text.split('/', 1)[1]}_balanced_strict.tsv"
        if not path.is_file():
            raise TeacherSetError(f"Generated teacher set {text!r} not found at {path}. "
                                  "Fix: run notebooks/01_generate.ipynb (or ambig generate) first.")
        return path
    path = Path(text)
    if path.is_file():
        return path
    raise TeacherSetError(
        f"Unknown teacher set {text!r}: not a registered name and not an existing file. "
        f"Registered: {', '.join(resolve_teacher_sets('all'))}."
    )


#: How to fix a quoting error. Fields are read as CSV-quoted (the published sets quote fields holding ``"``),
#: so a field that starts with ``"`` must be quoted whole, with inner quotes doubled.
_QUOTE_FIX = ('Fix: a field that starts with a double quote must be quoted whole with its inner quotes doubled '
              '("""Best"" pizza near me" for "Best" pizza near me), or reword it; fields never span lines.')


def _unclosed_quote(source: str, line: int, until: int) -> None:
    raise TeacherSetError(f"{source}, line {line}: a double quote opens a field that does not close on that line "
                          f"(read as one field up to line {until}). {_QUOTE_FIX}") from None


def teacher_set_source(name_or_path: str | Path) -> str:
    """Where a teacher set comes from, named without this machine's paths (for provenance).

    A published set is ``mirror:<key>`` (its key in the public-file registry, the layout of the data mirror,
    wherever it was resolved from); any other set is ``paths.portable_path`` of its file
    (``data/synthetic/<stem>_balanced_strict.tsv`` for a generated one).
    """
    text = str(name_or_path)
    if text in PUBLISHED_SETS:
        return f"mirror:{PUBLISHED_SETS[text].file_key}"
    if text in EXTERNAL_SETS:
        return f"mirror:{EXTERNAL_SETS[text].file_key}"
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
    previous_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if reader.line_num > previous_line + 1:
                _unclosed_quote(source, previous_line + 1, reader.line_num)
            raise TeacherSetError(f"{source}, line {previous_line + 1}: badly quoted field ({exc}). {_QUOTE_FIX}") from None
        line_no, first_line = reader.line_num, previous_line + 1
        previous_line = line_no
        if line_no > first_line:  # a quoted field ran over the end of its line and swallowed the next one(s)
            _unclosed_quote(source, first_line, line_no)
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


def parse_external_set(path: Path) -> pd.DataFrame:
    """A Zef-CNP CSV as a teacher set: ``topic`` is ``row-<index>`` (no topics), no information need."""
    raw = pd.read_csv(path, dtype={"initial_request": str}, keep_default_na=False)
    missing = [c for c in ("initial_request", "binary_label") if c not in raw.columns]
    if missing:
        raise TeacherSetError(f"{path}, line 1: missing column(s) {', '.join(missing)}. Fix: the file must have "
                              "initial_request and binary_label columns.")
    labels = raw["binary_label"].astype(str).str.strip().map(_LABELS)
    bad = labels.isna() | (raw["initial_request"].str.strip() == "")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise TeacherSetError(f"{path}, line {row + 2}: empty query or binary_label "
                              f"{raw['binary_label'].iloc[row]!r} not 0 or 1. Fix: 0 = specific, 1 = ambiguous.")
    index = raw[raw.columns[0]].astype(str) if raw.columns[0] not in ("initial_request", "binary_label") \
        else pd.Series(range(len(raw))).astype(str)
    return pd.DataFrame({"topic": "row-" + index, "initial_request": raw["initial_request"].str.strip(),
                         "binary_label": labels.astype(int), "user_information_need": "",
                         "source_line": range(2, len(raw) + 2)})


def load_teacher_set(name_or_path: str | Path) -> pd.DataFrame:
    """Load a teacher set by registered name or path; see ``parse_teacher_set`` for the checks."""
    path = teacher_set_path(name_or_path)
    if str(name_or_path) in EXTERNAL_SETS:
        return parse_external_set(path)
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
    if text in EXTERNAL_SETS:
        return EXTERNAL_SETS[text].teacher
    stem = Path(text).name
    return stem.removesuffix("_balanced_strict.tsv")
