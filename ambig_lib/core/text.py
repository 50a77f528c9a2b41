"""Text normalisation and surface features shared by inspection, generation and the baselines."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PUNCT = re.compile(r"[^\w\s]")


def normalise(text: str) -> str:
    """Near-duplicate key: NFKC, case-folded, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def word_count(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def vocabulary(texts: list[str]) -> set[str]:
    """Lower-cased word types (letters, digits, simple contractions)."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))
    return vocab
