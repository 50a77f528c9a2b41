"""Text normalisation and surface features: the one implementation shared by generation, inspection and the
baselines."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PUNCT = re.compile(r"[^\w\s]|_")


def normalise(text: str) -> str:
    """Comparison (near-duplicate) key of a query: NFKC, case-folded, punctuation and ``_`` replaced by spaces,
    whitespace collapsed. Generation's dedup and the inspection's duplicate counts use this one key."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def word_count(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def clean_text(value: str) -> str:
    """Collapse whitespace (tabs and newlines included) to single spaces and strip wrapping quotes."""
    text = " ".join(str(value).split())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def safe_name(name: str) -> str:
    """A file-safe form of a name (``/``, spaces and other separators become ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "teacher"


def vocabulary(texts: list[str]) -> set[str]:
    """Lower-cased word types (letters, digits, simple contractions)."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))
    return vocab
