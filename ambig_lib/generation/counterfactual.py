"""Rule-based minimal pairs (the ``counterfactual`` strategy) and the random-deletion control of any pair set.

No LLM is called, so this scales to tens of thousands of pairs in seconds. Each pair keeps a *specific* query
of a teacher set as label 0 and makes its ambiguous partner (label 1) by one recorded edit:

* ``drop_time``: the time anchor goes ("... in 2019", "this year", "on March 3, 2025");
* ``entity_to_pronoun``: a named entity (a capitalised span inside the query) becomes "it" / "that one";
* ``drop_constraint``: the last constraint phrase goes ("... for beginners", "... under $300");
* ``bare_noun``: the query shrinks to its head noun phrase ("side effects of ibuprofen" -> "side effects").

The **random-deletion control** of a pair set deletes from each specific query as many random words as its
ambiguous partner lost (at least one). A strategy teaches ambiguity only if a student trained on it beats the
same student trained on its control: otherwise it learned "shorter means ambiguous".
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ambig_lib.core.errors import AmbigError

#: Version of the rules below; recorded in provenance (bump it when a rule changes).
RULES_VERSION = 1

EDIT_TYPES = ("drop_time", "entity_to_pronoun", "drop_constraint", "bare_noun")

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_TIME_PATTERNS = [
    rf"\b(?:in|on|during|since|before|after|by|from|of|for|as of|until)\s+(?:the\s+)?(?:(?:{_MONTHS})\.?\s+)?"
    r"(?:\d{1,2}(?:st|nd|rd|th)?,?\s+)?(?:1[0-9]{3}|20[0-9]{2})s?\b",
    rf"\b(?:on\s+)?(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:1[0-9]{{3}}|20[0-9]{{2}})\b",
    r"\b(?:this|last|next|current|the current|the upcoming|the coming)\s+(?:year|season|month|week|weekend|"
    r"semester|quarter|decade|century)\b",
    r"\b(?:today|tonight|tomorrow|yesterday|currently|right now|nowadays|these days|at the moment)\b",
    r"\b(?:in\s+)?the\s+(?:1[0-9]|20|21)(?:st|nd|rd|th)\s+century\b",
    r"(?<![\w$])(?:1[0-9]{3}|20[0-9]{2})s?\b",
]
_CONSTRAINT_START = ("for", "under", "with", "without", "near", "in", "on", "at", "using", "from", "between",
                     "during", "within", "over", "below", "above", "after", "before", "by", "to")
_QUESTION_WORDS = frozenset("what which who whom whose when where why how is are was were do does did can could "
                            "should would will shall may might must has have had i me my we our you your "
                            "tell show give find list explain describe recommend suggest please".split())
_DETERMINERS = frozenset("the a an this that these those some any".split())
_FUNCTION_WORDS = frozenset(_CONSTRAINT_START + ("of", "and", "or", "that", "which", "who", "is", "are", "was",
                                                  "were", "do", "does", "can", "should", "if", "than", "as"))
_PRONOUNS = ("it", "that one", "this")


class CounterfactualError(AmbigError):
    """A pair set cannot be built (no specific queries, no pair columns, nothing editable)."""


def _tidy(text: str) -> str:
    """Collapse spaces, drop spaces before punctuation and dangling commas/connectives at the end."""
    text = " ".join(text.split())
    text = re.sub(r"\s+([?.,!;:])", r"\1", text)
    text = re.sub(r"(?:,|\b(?:and|or|of|for|in|on|at|to|with|by|from))\s*([?.!]?)$", r"\1", text).strip()
    text = re.sub(r"^[,;:]\s*", "", text)
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9$'’-]+", text)


def drop_time(query: str) -> str | None:
    """``query`` without its time anchor, or None when it has none."""
    for pattern in _TIME_PATTERNS:
        edited = re.sub(pattern, " ", query, count=1, flags=re.IGNORECASE)
        if edited != query:
            edited = _tidy(edited)
            return edited if len(_words(edited)) >= 2 else None
    return None


def _stable_index(text: str, n: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % n


def entity_to_pronoun(query: str) -> str | None:
    """``query`` with its longest capitalised span (not the first word) replaced by a pronoun, or None."""
    tokens = query.split()
    spans: list[tuple[int, int]] = []
    i = 1
    while i < len(tokens):
        if re.match(r"^[A-Z][\w'’.-]*", tokens[i]) and tokens[i].rstrip("?.,!") not in ("I",):
            j = i + 1
            while j < len(tokens) and (re.match(r"^[A-Z0-9][\w'’.-]*", tokens[j])
                                       or (tokens[j] in ("of", "the", "de", "and") and j + 1 < len(tokens)
                                           and re.match(r"^[A-Z]", tokens[j + 1]))):
                j += 1
            following = tokens[j].rstrip("?.,!;:") if j < len(tokens) else ""
            modifier = bool(re.match(r"^[a-z][a-z'’-]*$", following)) and following not in _FUNCTION_WORDS \
                and not re.search(r"[?.,!;:]$", tokens[j - 1])
            quoted = tokens[i][0] in "\"'“‘" or tokens[j - 1][-1:] in "\"'”’"
            if not modifier and not quoted:  # "a Bluetooth speaker": the name modifies a noun, a pronoun cannot replace it
                spans.append((i, j))
            i = j
        else:
            i += 1
    if not spans:
        return None
    start, end = max(spans, key=lambda s: (s[1] - s[0], -s[0]))
    trailing = re.search(r"[?.,!]+$", tokens[end - 1])
    pronoun = _PRONOUNS[_stable_index(query, len(_PRONOUNS))]
    if start > 0 and tokens[start - 1].casefold() in _DETERMINERS:
        start -= 1
    if start > 0 and tokens[start - 1].casefold() in ("in", "at", "near", "around"):
        start, pronoun = start - 1, "there"  # a place: "attractions in Japan" -> "attractions there"
    replacement = pronoun + (trailing.group(0) if trailing else "")
    edited = _tidy(" ".join(tokens[:start] + [replacement] + tokens[end:]))
    return edited if edited.casefold() != query.casefold() else None


def _is_time_phrase(text: str) -> bool:
    return any(re.fullmatch(rf"\s*(?:{p})\s*[?.!]*\s*", text, flags=re.IGNORECASE) for p in _TIME_PATTERNS)


def drop_constraint(query: str) -> str | None:
    """``query`` without its last constraint phrase ("for beginners", "under $300"), or None. A time phrase
    is not a constraint here (that is ``drop_time``)."""
    tokens = query.split()
    for i in range(len(tokens) - 1, 1, -1):
        if tokens[i].casefold() in _CONSTRAINT_START and i >= 3:
            if _is_time_phrase(" ".join(tokens[i:])):
                continue
            tail = re.search(r"[?.!]+$", tokens[-1])
            edited = _tidy(" ".join(tokens[:i]) + (tail.group(0) if tail else ""))
            if len(_words(edited)) >= 3 and edited.casefold() != query.casefold():
                return edited
    return None


def bare_noun(query: str) -> str | None:
    """The head noun phrase of ``query``, lower case: the words after its first determiner ("the side effects
    of ..." -> "side effects"), else after its leading question words and auxiliaries; at most three words, up
    to the first function word. None when nothing shorter remains."""
    words = [w.strip("?.,!;:\"'()") for w in query.split()]
    words = [w for w in words if w]
    determiner = next((k for k, w in enumerate(words) if w.casefold() in ("the", "a", "an")), None)
    i = determiner + 1 if determiner is not None else 0
    while i < len(words) and (words[i].casefold() in _QUESTION_WORDS or words[i].casefold() in _DETERMINERS):
        i += 1
    head: list[str] = []
    while i < len(words) and len(head) < 3 and words[i].casefold() not in _FUNCTION_WORDS:
        head.append(words[i].casefold())
        i += 1
    if not head or len(head) >= len(_words(query)) - 1:
        return None
    return " ".join(head)


EDITS = {"drop_time": drop_time, "entity_to_pronoun": entity_to_pronoun, "drop_constraint": drop_constraint,
         "bare_noun": bare_noun}


@dataclass(frozen=True)
class EditedPair:
    """A specific source query (label 0) and its rule-based ambiguous edit (label 1)."""

    source_set: str
    topic: str
    specific: str
    ambiguous: str
    edit_type: str


def counterfactual_pairs(sources: Iterable[tuple[str, pd.DataFrame]], edits_per_query: int = 1) -> list[EditedPair]:
    """Edited pairs from the specific (label-0) queries of each ``(set name, frame)``.

    Each distinct specific query (case-folded) is used once over all sources. Of the edits that apply to
    it, the one whose type is rarest so far is taken first (ties in :data:`EDIT_TYPES` order), so types stay
    as balanced as the queries allow; ``edits_per_query`` > 1 takes more edits of the same query.
    """
    if edits_per_query < 1:
        raise CounterfactualError(f"edits_per_query must be >= 1, got {edits_per_query}.")
    counts: Counter[str] = Counter({t: 0 for t in EDIT_TYPES})
    seen: set[str] = set()
    pairs: list[EditedPair] = []
    for name, frame in sources:
        specific = frame[frame["binary_label"] == 0]
        for topic, query in zip(specific["topic"].astype(str), specific["initial_request"].astype(str),
                                strict=True):
            key = " ".join(query.split()).casefold()
            if key in seen:
                continue
            seen.add(key)
            options = {t: EDITS[t](query) for t in EDIT_TYPES}
            usable = [t for t in EDIT_TYPES if options[t] and options[t].casefold() != key]
            for edit_type in sorted(usable, key=lambda t: (counts[t], EDIT_TYPES.index(t)))[:edits_per_query]:
                counts[edit_type] += 1
                pairs.append(EditedPair(name, topic, query, str(options[edit_type]), edit_type))
    if not pairs:
        raise CounterfactualError("No specific query could be edited. Fix: give teacher sets with label-0 rows.")
    return pairs


def random_deletion(query: str, n_words: int, rng: np.random.Generator) -> str:
    """``query`` with ``n_words`` randomly chosen words deleted (at least one word is always kept, and the
    result always keeps a letter or digit: a draw that leaves only punctuation is drawn again)."""
    tokens = query.split()
    n = min(max(n_words, 1), len(tokens) - 1)
    if n <= 0:
        return query
    for _ in range(20):
        drop = set(rng.choice(len(tokens), size=n, replace=False).tolist())
        kept = " ".join(t for i, t in enumerate(tokens) if i not in drop)
        kept = re.sub(r"\s+([?.,!;:])", r"\1", kept).strip()
        if re.search(r"\w", kept):
            return kept
    return tokens[0]


def deletion_control(specifics: Sequence[str], ambiguous: Sequence[str], seed: int = 0) -> list[str]:
    """The control partner of each pair: its specific query with as many random words deleted as the
    ambiguous partner has fewer words (at least one), with one seeded generator for the whole set."""
    rng = np.random.default_rng(seed)
    return [random_deletion(s, len(s.split()) - len(a.split()), rng) for s, a in zip(specifics, ambiguous,
                                                                                       strict=True)]


def pairs_frame(pairs: Sequence[EditedPair]) -> pd.DataFrame:
    """Two rows per pair in the teacher-set columns; ``ambiguity_type`` holds the edit type."""
    rows = []
    for i, p in enumerate(pairs):
        for query, label in ((p.specific, 0), (p.ambiguous, 1)):
            rows.append({"topic": p.topic, "initial_request": query, "binary_label": label,
                         "user_information_need": "", "intent": p.source_set,
                         "ambiguity_type": p.edit_type if label == 1 else "", "pair_id": f"cf-{i}",
                         "sample_index": 0})
    return pd.DataFrame(rows)


def control_frame(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The random-deletion control of a pair set (columns ``pair_id``, ``binary_label``, ``initial_request``):
    every ambiguous query replaced by its specific partner with as many random words deleted."""
    if "pair_id" not in frame.columns:
        raise CounterfactualError("The set has no pair_id column, so its pairs are unknown. Fix: a control needs "
                                  "a pair set (taxonomy, real_seeded, counterfactual, length_matched).")
    spec = frame[frame["binary_label"] == 0].drop_duplicates("pair_id").set_index("pair_id")
    amb = frame[frame["binary_label"] == 1].drop_duplicates("pair_id").set_index("pair_id")
    ids = [p for p in spec.index if p in amb.index]
    controls = deletion_control([spec.at[p, "initial_request"] for p in ids],
                                [amb.at[p, "initial_request"] for p in ids], seed=seed)
    out = frame[frame["pair_id"].isin(ids)].copy()
    replacement = dict(zip(ids, controls, strict=True))
    is_amb = out["binary_label"] == 1
    out.loc[is_amb, "initial_request"] = out.loc[is_amb, "pair_id"].map(replacement)
    out.loc[is_amb, "ambiguity_type"] = "random_deletion"
    same = out.loc[is_amb, "initial_request"].str.casefold().to_numpy() == \
        out.loc[is_amb, "pair_id"].map(spec["initial_request"]).str.casefold().to_numpy()
    if same.any():  # a one-word query cannot lose a word: drop the pair
        bad = set(out.loc[is_amb, "pair_id"][same])
        out = out[~out["pair_id"].isin(bad)]
    return out.reset_index(drop=True)
