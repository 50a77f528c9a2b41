"""Filters of parsed pairs: unbuilt pairs, multi-question queries, exact and near duplicates. Each filter
returns the pairs kept and a record of every pair removed (stage, offending query, the query it matched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ambig_lib.core.text import normalise
from ambig_lib.generation.parsing import IntentPair


def question_count(text: str) -> int:
    """Question marks in ``text``: a query with two or more is a string of questions, not one query."""
    return text.count("?")


def drop_unbuilt_pairs(pairs: Sequence[IntentPair]) -> DedupResult:
    """Drop the pairs that cannot be used (``problem`` set), each listed with its reason."""
    kept = [p for p in pairs if not p.problem]
    removed = [{"stage": "bad_replacement" if p.problem.split(":")[0] not in _PAIR_CHECKS else "pair_check",
                "pair": asdict(p), "reason": p.problem} for p in pairs if p.problem]
    return DedupResult(kept, removed)


#: Problems found by :func:`pair_problem` (the rest come from ``length_matched``'s replacement).
_PAIR_CHECKS = frozenset({"length_mismatch", "added_year", "ambiguous_equals_specific"})


def drop_multi_question_pairs(pairs: Sequence[IntentPair]) -> DedupResult:
    """Drop a pair (both queries, so labels stay balanced) when either query asks several questions."""
    kept: list[IntentPair] = []
    removed: list[dict[str, Any]] = []
    for pair in pairs:
        bad = next((q for q in (pair.specific_query, pair.ambiguous_query) if question_count(q) > 1), None)
        if bad is None:
            kept.append(pair)
        else:
            removed.append({"stage": "multi_question", "pair": asdict(pair), "query": bad})
    return DedupResult(kept, removed)


def _shingles(normalised: str) -> frozenset[str]:
    return frozenset(normalised.split())


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class DedupResult:
    """Pairs kept, and each removed pair with the stage, its offending query and the query it matched."""

    kept: list[IntentPair]
    removed: list[dict[str, Any]]


def drop_exact_duplicates(pairs: Sequence[IntentPair]) -> DedupResult:
    """Keep the first pair holding each normalised query; a later pair sharing one loses both queries."""
    seen: dict[str, str] = {}
    kept: list[IntentPair] = []
    removed: list[dict[str, Any]] = []
    for pair in pairs:
        hit = next(((q, seen[n]) for q in (pair.specific_query, pair.ambiguous_query)
                    if (n := normalise(q)) in seen), None)
        if hit:
            removed.append({"stage": "exact_duplicate", "pair": asdict(pair), "query": hit[0], "matches": hit[1]})
            continue
        kept.append(pair)
        for q in (pair.specific_query, pair.ambiguous_query):
            seen[normalise(q)] = q
    return DedupResult(kept, removed)


def drop_near_duplicates(pairs: Sequence[IntentPair], threshold: float = 0.8) -> DedupResult:
    """Drop a pair when one of its queries has word-set Jaccard >= ``threshold`` with a query of an earlier
    kept pair. The two queries of one pair are never compared (length-matched pairs differ by one detail)."""
    kept_sets: list[tuple[frozenset[str], str]] = []
    kept: list[IntentPair] = []
    removed: list[dict[str, Any]] = []
    for pair in pairs:
        hit = None
        for q in (pair.specific_query, pair.ambiguous_query):
            words = _shingles(normalise(q))
            for other_words, other in kept_sets:
                score = _jaccard(words, other_words)
                if score >= threshold:
                    hit = (q, other, score)
                    break
            if hit:
                break
        if hit:
            removed.append({"stage": "near_duplicate", "pair": asdict(pair), "query": hit[0], "matches": hit[1],
                            "jaccard": round(hit[2], 4)})
            continue
        kept.append(pair)
        kept_sets.extend((_shingles(normalise(q)), q) for q in (pair.specific_query, pair.ambiguous_query))
    return DedupResult(kept, removed)
