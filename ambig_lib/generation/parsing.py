"""Parsing and validation of a teacher answer: the JSON of one topic (or seed) into intent pairs, with the
checks of each pair (the ambiguous query replaces one detail of the specific one; lengths; no added year).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ambig_lib.core.text import clean_text, normalise, word_count
from ambig_lib.generation.prompts import (
    INTENTS_PER_TOPIC,
    TAXONOMY,
    PromptStyle,
    register_plan,
)
from ambig_lib.teachers.base import ChatResponse


class OutputRejected(ValueError):
    """A teacher answer failed validation; ``reason`` is a short code, the message says what was wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message


@dataclass(frozen=True)
class IntentPair:
    """One intent of one topic: a specific query (label 0) and an ambiguous one (label 1)."""

    topic: str
    index: int  # position of the intent in the teacher's answer (0..4)
    intent: str
    specific_query: str
    ambiguous_query: str
    user_information_need: str
    ambiguity_type: str = ""
    sample_index: int = 0
    problem: str = ""  # why the pair cannot be used (bad replacement, length gap, added year): dropped later
    register: str = ""  # taxonomy: keywords, question or instruction

    @property
    def pair_id(self) -> str:
        return f"{self.topic}:{self.index}"


def _extract_json(text: str) -> Any:
    """Parse the JSON object in ``text`` (code fences and text around the object tolerated)."""
    stripped = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", stripped, flags=re.DOTALL)
    if fence:
        stripped = fence.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as first_error:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start:end + 1])
            except json.JSONDecodeError:
                pass
        raise OutputRejected("invalid_json", f"not valid JSON ({first_error.msg} at line {first_error.lineno} "
                                             f"column {first_error.colno})") from None


_EDGE_PUNCTUATION = " \t\"'`.,;:!?"


_DETERMINERS = frozenset("the a an this that these those my your his her its our their some any".split())


#: A replacement may be at most this many words longer than the detail it replaces (keeps lengths matched).
MAX_EXTRA_REPLACEMENT_WORDS = 3


def replace_detail(specific: str, detail: str, replacement: str) -> str:
    """``specific`` with the whole-word, case-insensitive first occurrence of ``detail`` replaced.

    A determiner right before the detail is dropped when the replacement brings its own ("join the
    Democratic Party" -> "join that party", not "join the that party"). Raises :class:`OutputRejected` when the
    detail is not in the query, or the replacement is empty, equals or contains the detail, or is more than
    :data:`MAX_EXTRA_REPLACEMENT_WORDS` words longer than it.
    """
    detail, replacement = detail.strip(_EDGE_PUNCTUATION), replacement.strip(_EDGE_PUNCTUATION)
    if not detail or not replacement:
        raise OutputRejected("empty_field", "detail or vague_replacement is empty")
    norm_detail, norm_replacement = normalise(detail), normalise(replacement)
    if norm_detail == norm_replacement:
        raise OutputRejected("replacement_equals_detail", f"vague_replacement {replacement!r} equals the detail")
    if f" {norm_detail} " in f" {norm_replacement} ":
        raise OutputRejected("replacement_contains_detail", f"vague_replacement {replacement!r} repeats the detail")
    if word_count(replacement) > word_count(detail) + MAX_EXTRA_REPLACEMENT_WORDS:
        raise OutputRejected("replacement_too_long", f"vague_replacement {replacement!r} is much longer than "
                                                     f"the detail {detail!r}")
    match = re.search(r"(?<!\w)" + re.escape(detail) + r"(?!\w)", specific, flags=re.IGNORECASE)
    if match is None:
        raise OutputRejected("detail_not_in_query", f"detail {detail!r} is not in {specific!r}")
    before, after = specific[:match.start()], specific[match.end():]
    if replacement.split()[0].casefold() in _DETERMINERS:
        previous = re.search(r"(\w+)\s+$", before)
        if previous and previous.group(1).casefold() in _DETERMINERS:
            before = before[:previous.start()]
    if not before.strip():
        replacement = replacement[:1].upper() + replacement[1:]
    built = before + replacement + after
    return re.sub(r"\s+([?.,!])", r"\1", " ".join(built.split()))


def _answer_items(data: Any, style: PromptStyle, topic: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The answer's pairs as (raw item, fixed fields) in the style's layout; fixed fields are the ones the
    layout implies (a taxonomy pair's type and register, a rewrite's intent)."""
    if style.layout == "taxonomy":
        if not isinstance(data, dict):
            raise OutputRejected("wrong_schema", "expected an object with one pair per ambiguity type")
        plan = register_plan(topic)
        return [(data.get(kind), {"ambiguity_type": kind, "register": plan[kind], "intent": kind})
                for kind in TAXONOMY]
    if style.layout == "rewrite":
        return [(data, {"intent": "rewrite"})]
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
        raise OutputRejected("wrong_schema", 'expected an object {"intents": [...]}')
    items = data["intents"]
    if len(items) != INTENTS_PER_TOPIC:
        raise OutputRejected("wrong_count", f"{len(items)} intents, expected {INTENTS_PER_TOPIC}")
    return [(item, {}) for item in items]


#: A year (four digits from 1000 to 2099) in a query.
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")


def pair_problem(style: PromptStyle, topic: str, specific: str, ambiguous: str) -> str:
    """Why a well-formed pair is still unusable (empty when it is fine): lengths further apart than the style
    allows, or (``rewrite``) a specific rewrite that adds a year the seed does not have."""
    if style.max_word_difference is not None:
        gap = abs(word_count(specific) - word_count(ambiguous))
        if gap > style.max_word_difference:
            return f"length_mismatch: the queries differ by {gap} words (at most {style.max_word_difference})"
    if style.layout == "rewrite":
        added = set(_YEAR.findall(specific)) - set(_YEAR.findall(topic))
        if added:
            return f"added_year: the specific rewrite adds {sorted(added)[0]}, which the seed does not have"
    return ""


def parse_topic_output(text: str, style: PromptStyle, topic: str, sample_index: int = 0) -> list[IntentPair]:
    """Validate one teacher answer for ``topic`` (or seed); return its pairs or raise :class:`OutputRejected`.

    A malformed answer rejects the whole unit (it is asked again); a well-formed pair that cannot be used
    (bad replacement, lengths too far apart, an added year) is kept with its ``problem`` and dropped later.
    """
    data = _extract_json(text)
    pairs: list[IntentPair] = []
    for i, (item, fixed) in enumerate(_answer_items(data, style, topic)):
        if not isinstance(item, dict):
            raise OutputRejected("wrong_schema", f"intent {i + 1} is not an object")
        values: dict[str, str] = dict(fixed)
        for name in style.fields:
            value = item.get(name)
            if not isinstance(value, str):
                raise OutputRejected("wrong_schema", f"intent {i + 1}: field {name!r} missing or not a string")
            values[name] = clean_text(value)
            if not normalise(values[name]):
                raise OutputRejected("empty_field", f"intent {i + 1}: field {name!r} is empty")
        for name, allowed in style.field_enums.items():
            if values[name] not in allowed:
                raise OutputRejected("bad_enum", f"intent {i + 1}: {name} {values[name]!r} not one of "
                                                 f"{', '.join(allowed)}")
        problem = ""
        if style.ambiguous_by_replacement:  # a bad swap costs this pair only (dropped later), not the topic
            try:
                values["ambiguous_query"] = replace_detail(values["specific_query"], values["detail"],
                                                           values["vague_replacement"])
            except OutputRejected as rejected:
                values["ambiguous_query"] = ""
                problem = f"{rejected.reason}: {rejected.detail}"
        if not problem and normalise(values["specific_query"]) == normalise(values["ambiguous_query"]):
            if style.layout != "taxonomy":
                raise OutputRejected("ambiguous_equals_specific",
                                     f"intent {i + 1}: ambiguous query equals the specific one")
            # one of eight pairs: it is dropped, the other pairs of the answer stay
            problem = "ambiguous_equals_specific: the ambiguous query equals the specific one"
        if not problem:
            problem = pair_problem(style, topic, values["specific_query"], values["ambiguous_query"])
        need = values.get("user_information_need", values.get("missing_information", ""))
        pairs.append(IntentPair(topic=topic, index=i, intent=values["intent"],
                                specific_query=values["specific_query"], ambiguous_query=values["ambiguous_query"],
                                user_information_need=need, ambiguity_type=values.get("ambiguity_type", ""),
                                sample_index=sample_index, problem=problem, register=values.get("register", "")))
    if all(p.problem for p in pairs):
        raise OutputRejected("no_usable_pair", "no intent gave a usable ambiguous query: " + pairs[0].problem)
    if style.layout == "taxonomy":  # types are distinct by schema; repeated queries go in the set-level dedup
        return pairs
    intents = Counter(normalise(p.intent) for p in pairs)
    repeated = [k for k, n in intents.items() if n > 1]
    if repeated:
        raise OutputRejected("duplicate_intent", f"intent {repeated[0]!r} appears more than once")
    queries = Counter(normalise(q) for p in pairs for q in (p.specific_query, p.ambiguous_query) if q)
    repeated = [k for k, n in queries.items() if n > 1]
    if repeated:
        raise OutputRejected("duplicate_query", f"query {repeated[0]!r} appears more than once")
    return pairs


def check_response(response: ChatResponse, style: PromptStyle, topic: str, sample_index: int) -> list[IntentPair]:
    """Validate a response, failing first on how the call ended (error, length cut, content filter)."""
    if response.error is not None:
        raise OutputRejected("call_error", response.error)
    if response.finish_reason == "length":
        raise OutputRejected("truncated", f"cut off at the token limit after {response.completion_tokens} tokens")
    if response.finish_reason != "stop":
        raise OutputRejected(f"finish_{response.finish_reason}", f"finish reason {response.finish_reason!r}")
    return parse_topic_output(response.text, style, topic, sample_index)


def parsed_row_count(text: str, style: PromptStyle, topic: str) -> int:
    """Non-empty queries in an answer whose JSON parses (0 otherwise): the ``parsed`` stage count."""
    try:
        items = [item for item, _ in _answer_items(_extract_json(text), style, topic)]
    except OutputRejected:
        return 0
    return sum(1 for item in items if isinstance(item, dict)
               for key in ("specific_query", "ambiguous_query")
               if isinstance(item.get(key), str) and item[key].strip())


#: Sub-folder of the output folder for sets that are not canonical (a ``--limit``, another seed or sampling):
#: they never replace the full set and are not listed among the generated teacher sets ("all").
