"""Prompt styles for synthetic query generation: instructions, a worked example, and the JSON schema.

Two styles:

* ``seed``: the published design. Per topic, 5 distinct user intents; per intent a clear, specific query
  (label 0) and a vague, ambiguous one (label 1) plus the user's information need. Ambiguous queries come out
  short ("Which one should I get?"), so query length alone separates the classes.
* ``length_matched``: the teacher writes the specific query, names the words that carry one key detail, a
  vague replacement for them, and the kind of ambiguity (:data:`AMBIGUITY_TYPES`); the ambiguous query is
  built by that one replacement. Asked to write the ambiguous query itself, Qwen2.5-Coder-1.5B mostly wrote
  paraphrases ("What causes aging?" / "What causes the aging of living organisms?"); built this way, a pair
  differs in exactly one detail and has about the same length.

Both carry a worked example for a topic outside the topic list (Astronomy) as a previous chat turn: without
one, small teachers write paraphrases or strings of several questions instead of ambiguous queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_text

#: Number of user intents requested per topic.
INTENTS_PER_TOPIC = 5

#: Kinds of ambiguity a ``length_matched`` ambiguous query is tagged with.
AMBIGUITY_TYPES: dict[str, str] = {
    "missing_who": "for or by whom is not said",
    "missing_when": "the date or time is not said",
    "missing_where": "the place is not said",
    "missing_what": "the exact thing is not said",
    "lexical": "a word with several meanings (bank, Java, pitch)",
    "unclear_reference": "'it', 'that', 'there' pointing at nothing said",
    "unfamiliar_entity": "a name nobody can identify",
}

EXAMPLE_TOPIC = "Astronomy"

#: The taxonomy of ambiguity that real benchmarks contain (the ``taxonomy`` strategy writes one minimal pair
#: of each type per topic; ``real_seeded`` tags its pairs with one of them).
TAXONOMY: dict[str, str] = {
    "unresolved_reference": "a pronoun or 'that one' pointing at nothing said",
    "polysemous_term": "a word with several meanings (corona, jaguar, python, bank)",
    "missing_time": "the answer changes over time and no time is given",
    "missing_place": "the answer depends on a place that is not given",
    "shared_name": "several people, places, works or events share the name",
    "broad_request": "a request so broad that it has many facets",
    "unfamiliar_term": "an unfamiliar or invented name that nobody can identify",
    "missing_task_detail": "a task that lacks a detail or constraint it needs",
}

#: Registers a taxonomy pair is written in (both queries of a pair share one; it rotates across pairs).
REGISTERS: dict[str, str] = {
    "keywords": "search-box keywords, lower case, no question mark",
    "question": "a natural factoid question",
    "instruction": "a task instruction in the imperative",
}


def register_plan(topic: str) -> dict[str, str]:
    """Register of each taxonomy type for ``topic``: a rotation whose offset comes from the topic's SHA-256,
    so registers are balanced over types and topics, and the plan is the same on every run."""
    offset = int(sha256_text(topic), 16) % len(REGISTERS)
    names = list(REGISTERS)
    return {kind: names[(i + offset) % len(names)] for i, kind in enumerate(TAXONOMY)}


class PromptError(AmbigError):
    """An unknown prompt style was requested."""


@dataclass(frozen=True)
class PromptStyle:
    """A prompt style: system text (the instructions), user template (``{topic}``, ``{n}``), worked example
    and output fields. The instructions sit in the system message so that the worked example and every topic
    share one long prompt prefix (llama.cpp reuses its evaluation across topics)."""

    name: str
    description: str
    system: str
    user_template: str
    example_intents: tuple[dict[str, str], ...]
    fields: tuple[str, ...]
    field_enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: True: the teacher names a ``detail`` of its specific query and a ``vague_replacement``; the ambiguous
    #: query is built by that one replacement (no paraphrase possible, the same length up to the swap).
    ambiguous_by_replacement: bool = False
    #: How the answer is laid out: ``intents`` (a list of intents per topic), ``taxonomy`` (one pair per
    #: :data:`TAXONOMY` type, keyed by type), ``rewrite`` (one pair rewritten from a real seed question).
    layout: str = "intents"
    #: Largest allowed difference in words between the two queries of a pair (None: not checked).
    max_word_difference: int | None = None

    @property
    def pairs_per_unit(self) -> int:
        """Pairs one answer holds: 5 intents, one per taxonomy type, or one rewrite pair."""
        return {"intents": INTENTS_PER_TOPIC, "taxonomy": len(TAXONOMY), "rewrite": 1}[self.layout]

    @property
    def unit_name(self) -> str:
        """What one request is about: a ``topic`` or a real ``seed`` question."""
        return "seed" if self.layout == "rewrite" else "topic"

    def user_message(self, topic: str) -> str:
        if self.layout == "taxonomy":
            plan = ", ".join(f"{kind}={register}" for kind, register in register_plan(topic).items())
            return self.user_template.format(topic=topic, plan=plan)
        return self.user_template.format(topic=topic, n=INTENTS_PER_TOPIC)

    def example_output(self, item: dict[str, str] | None = None) -> str:
        """A worked answer as the assistant would write it (compact JSON, one pair or intent per line)."""
        if self.layout == "taxonomy":
            lines = [f"{json.dumps(kind)}: " + json.dumps({k: ex[k] for k in self.fields}, ensure_ascii=False)
                     for kind, ex in zip(TAXONOMY, self.example_intents, strict=True)]
            return "{\n" + ",\n".join(lines) + "\n}"
        if self.layout == "rewrite":
            chosen = item if item is not None else self.example_intents[0]
            return json.dumps({k: chosen[k] for k in self.fields}, ensure_ascii=False)
        lines = [json.dumps({k: item[k] for k in self.fields}, ensure_ascii=False) for item in self.example_intents]
        return '{"intents": [\n' + ",\n".join(lines) + "\n]}"

    def _item_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for name in self.fields:
            spec: dict[str, Any] = {"type": "string"}
            if name in self.field_enums:
                spec["enum"] = list(self.field_enums[name])
            properties[name] = spec
        return {"type": "object", "properties": properties, "required": list(self.fields),
                "additionalProperties": False}

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the answer: exactly ``INTENTS_PER_TOPIC`` intents, one object per taxonomy type
        (every type required, so types are balanced by construction), or one rewrite pair."""
        item = self._item_schema()
        if self.layout == "taxonomy":
            return {"type": "object", "properties": {kind: item for kind in TAXONOMY},
                    "required": list(TAXONOMY), "additionalProperties": False}
        if self.layout == "rewrite":
            return item
        return {
            "type": "object",
            "properties": {"intents": {"type": "array", "items": item,
                                       "minItems": INTENTS_PER_TOPIC, "maxItems": INTENTS_PER_TOPIC}},
            "required": ["intents"],
            "additionalProperties": False,
        }

    def example_turns(self) -> tuple[dict[str, str], ...]:
        """The worked examples as previous chat turns (user + assistant per example)."""
        if self.layout == "rewrite":
            turns: list[dict[str, str]] = []
            for item in self.example_intents:
                turns += [{"role": "user", "content": self.user_message(item["seed"])},
                          {"role": "assistant", "content": self.example_output(item)}]
            return tuple(turns)
        return ({"role": "user", "content": self.user_message(EXAMPLE_TOPIC)},
                {"role": "assistant", "content": self.example_output()})

    def messages(self, topic: str) -> tuple[dict[str, str], ...]:
        """The chat sent for ``topic`` (or seed): system, the worked examples, the real request."""
        return ({"role": "system", "content": self.system}, *self.example_turns(),
                {"role": "user", "content": self.user_message(topic)})

    def fingerprint(self) -> dict[str, Any]:
        """Everything that defines the prompt (hashed into :meth:`prompt_hash`)."""
        if self.layout == "intents":  # unchanged, so the committed sets keep their prompt hash
            return {"name": self.name, "system": self.system, "user_template": self.user_template,
                    "example_topic": EXAMPLE_TOPIC, "example_output": self.example_output(),
                    "schema": self.json_schema()}
        return {"name": self.name, "system": self.system, "user_template": self.user_template,
                "examples": list(self.example_turns()), "schema": self.json_schema(),
                "max_word_difference": self.max_word_difference}

    def prompt_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`fingerprint`."""
        return sha256_text(json.dumps(self.fingerprint(), sort_keys=True, ensure_ascii=False))


_SYSTEM = (
    "You write realistic search queries for a dataset that teaches a model to tell clear queries from ambiguous "
    "ones. Answer with JSON only."
)

_USER = 'Write the {n} intents for the topic "{topic}".'

_SEED_INSTRUCTIONS = """For the topic the user names, find exactly {n} distinct user intents (goals: an action to take or a fact to learn). For EACH intent write:
- "specific_query": a clear, precise question stating the intent fully (label 0).
- "ambiguous_query": a vague, imprecise question for the same intent that could be read in several ways (label 1).
- "user_information_need": one sentence: what the user really wants.
All intents and all queries must differ, and all must be about the topic."""

_SEED_EXAMPLE: tuple[dict[str, str], ...] = (
    {"intent": "see Saturn", "specific_query": "When is Saturn best visible in the night sky this year?",
     "ambiguous_query": "When can I see it?", "user_information_need": "When Saturn is best placed this year."},
    {"intent": "buy a first telescope", "specific_query": "What telescope should a beginner buy for under $300?",
     "ambiguous_query": "Which one should I get?", "user_information_need": "An affordable beginner telescope."},
    {"intent": "photograph the Milky Way", "specific_query": "How do I photograph the Milky Way with a DSLR camera?",
     "ambiguous_query": "How do I get good pictures at night?",
     "user_information_need": "Camera technique for Milky Way photos."},
    {"intent": "understand lunar eclipses", "specific_query": "What causes a total lunar eclipse?",
     "ambiguous_query": "Why does that happen to the moon?", "user_information_need": "The cause of lunar eclipses."},
    {"intent": "find a dark-sky site", "specific_query": "Where is the nearest dark-sky park to Denver, Colorado?",
     "ambiguous_query": "Where is a good place to go?", "user_information_need": "A dark-sky park near Denver."},
)

_LM_TYPES = "\n".join(f"  {name}: {text}" for name, text in AMBIGUITY_TYPES.items())

_LENGTH_MATCHED_INSTRUCTIONS = """For the topic the user names, find exactly {n} distinct user intents (goals: an action to take or a fact to learn). For EACH intent write:
- "intent": a few words naming the goal.
- "user_information_need": one sentence: what the user really wants.
- "specific_query": a clear, precise question stating the intent fully, with a concrete detail (a name, place, date, person or thing) (label 0).
- "ambiguity_type": the kind of detail to make unclear, one of:
""" + _LM_TYPES + """
- "detail": the words of the specific query that carry that detail, copied exactly.
- "vague_replacement": a vague word or short phrase to put in place of "detail" (it, that one, there, then, my friend, the thing, ...).
The ambiguous query (label 1) is the specific query with "detail" replaced by "vague_replacement": same wording and about the same length, but it can no longer be answered without asking back.
Use different ambiguity types. All intents and all queries must differ, and all must be about the topic."""

_LENGTH_MATCHED_EXAMPLE: tuple[dict[str, str], ...] = (
    {"intent": "see Saturn", "user_information_need": "When Saturn is best placed this year.",
     "specific_query": "When is Saturn best visible in the night sky this year?",
     "ambiguity_type": "unclear_reference", "detail": "Saturn", "vague_replacement": "that planet",
     "ambiguous_query": "When is that planet best visible in the night sky this year?"},
    {"intent": "find a dark-sky site", "user_information_need": "A dark-sky park near Denver.",
     "specific_query": "Where is the nearest dark-sky park to Denver, Colorado?",
     "ambiguity_type": "missing_where", "detail": "Denver, Colorado", "vague_replacement": "my new place",
     "ambiguous_query": "Where is the nearest dark-sky park to my new place?"},
    {"intent": "plan planet watching", "user_information_need": "Planets visible without a telescope on a date.",
     "specific_query": "Which planets are visible to the naked eye on March 3, 2025?",
     "ambiguity_type": "missing_when", "detail": "March 3, 2025", "vague_replacement": "that evening",
     "ambiguous_query": "Which planets are visible to the naked eye on that evening?"},
    {"intent": "see planetary rings", "user_information_need": "Magnification needed for Saturn's rings.",
     "specific_query": "What magnification do I need to see Saturn's rings through a telescope?",
     "ambiguity_type": "missing_what", "detail": "Saturn's rings", "vague_replacement": "the rings",
     "ambiguous_query": "What magnification do I need to see the rings through a telescope?"},
    {"intent": "judge a telescope", "user_information_need": "Whether the NexStar 6SE suits galaxies.",
     "specific_query": "Is the Celestron NexStar 6SE telescope good for viewing galaxies?",
     "ambiguity_type": "unfamiliar_entity", "detail": "Celestron NexStar 6SE telescope",
     "vague_replacement": "Polaris K-7", "ambiguous_query": "Is the Polaris K-7 good for viewing galaxies?"},
)

_TAXONOMY_KINDS = "\n".join(f"  {name}: {text}" for name, text in TAXONOMY.items())
_REGISTER_TEXT = "\n".join(f"  {name}: {text}" for name, text in REGISTERS.items())

_TAXONOMY_INSTRUCTIONS = """For the topic the user names, write one minimal pair of user queries for EACH kind of ambiguity below, in the register the user gives for that kind:
- "specific_query": a query with exactly one clear answer or task (label 0).
- "ambiguous_query": the SAME query with the information that pins it down removed or replaced, so that it has several plausible answers and a system would have to ask back (label 1). Keep the other words; it may be at most 2 words shorter or longer than the specific query.
- "missing_information": the clarifying question a system would have to ask.
Kinds of ambiguity:
""" + _TAXONOMY_KINDS + """
Registers (both queries of a pair use the same one):
""" + _REGISTER_TEXT + """
All queries must differ and be about the topic."""

# A worked example whose registers follow register_plan("Astronomy").
_TAXONOMY_EXAMPLE: tuple[dict[str, str], ...] = (
    {"specific_query": "How far is the Andromeda Galaxy from Earth?",
     "ambiguous_query": "How far is that galaxy from Earth?", "missing_information": "Which galaxy do you mean?"},
    {"specific_query": "Explain how a star's corona forms",
     "ambiguous_query": "Explain how the corona forms",
     "missing_information": "Do you mean a star's corona, the virus or something else?"},
    {"specific_query": "nasa administrator name 2015", "ambiguous_query": "nasa administrator name",
     "missing_information": "In which year?"},
    {"specific_query": "What time does the sun set in Oslo today?",
     "ambiguous_query": "What time does the sun set today?", "missing_information": "Where are you?"},
    {"specific_query": "Give the launch date of the Voyager 2 probe",
     "ambiguous_query": "Give the launch date of the Voyager probe",
     "missing_information": "Voyager 1 or Voyager 2?"},
    {"specific_query": "how stellar black holes form", "ambiguous_query": "everything about black holes",
     "missing_information": "What about black holes: formation, size, imaging or something else?"},
    {"specific_query": "When was the Hubble Space Telescope launched?",
     "ambiguous_query": "When was the Zarnell Space Telescope launched?",
     "missing_information": "What is the Zarnell Space Telescope?"},
    {"specific_query": "Recommend a beginner telescope under $300 for planets",
     "ambiguous_query": "Recommend a good telescope for me",
     "missing_information": "What budget, and what do you want to observe?"},
)

_REWRITE_INSTRUCTIONS = """The user gives a real question from a search engine. Rewrite it twice, in the same style as the original (same register and casing, about the same length):
- "specific_query": a rewrite with exactly one correct answer: add or sharpen the one detail that pins it down (which person, work, event, sense, place, time or task). Never write the answer or a hint of it, never invent facts, and add a year only when the answer changes over time (label 0).
- "ambiguous_query": a rewrite with several plausible correct answers: the detail that pins it down is left out or blurred, so a system would have to ask back (label 1).
- "ambiguity_type": which detail separates the two, one of:
""" + _TAXONOMY_KINDS + """
- "missing_information": the clarifying question the ambiguous rewrite needs.
The two rewrites may differ by at most 3 words in length."""

_REWRITE_EXAMPLE: tuple[dict[str, str], ...] = (
    {"seed": "who sang the song hallelujah", "specific_query": "who wrote and first recorded the song hallelujah",
     "ambiguous_query": "who sang the song hallelujah on tv", "ambiguity_type": "shared_name",
     "missing_information": "Which version or performance do you mean?"},
    {"seed": "when did the giants win the super bowl",
     "specific_query": "when did the new york giants win their first super bowl",
     "ambiguous_query": "when did the giants win a super bowl", "ambiguity_type": "shared_name",
     "missing_information": "Which of the Giants' Super Bowl wins?"},
    {"seed": "what is the population of georgia", "specific_query": "what is the population of the us state of georgia",
     "ambiguous_query": "how many people live in georgia", "ambiguity_type": "polysemous_term",
     "missing_information": "The US state or the country?"},
    {"seed": "who is the prime minister of canada", "specific_query": "who was the prime minister of canada in 1990",
     "ambiguous_query": "who was the prime minister of canada", "ambiguity_type": "missing_time",
     "missing_information": "At what time?"},
)

PROMPT_STYLES: dict[str, PromptStyle] = {
    "seed": PromptStyle(
        name="seed",
        description="published design: specific vs vague ambiguous query per intent",
        system=_SYSTEM + "\n\n" + _SEED_INSTRUCTIONS.format(n=INTENTS_PER_TOPIC),
        user_template=_USER,
        example_intents=_SEED_EXAMPLE,
        fields=("intent", "specific_query", "ambiguous_query", "user_information_need"),
    ),
    "length_matched": PromptStyle(
        name="length_matched",
        description="ambiguous = the specific query with one named detail replaced by a vague phrase, "
                    "tagged with its kind",
        system=_SYSTEM + "\n\n" + _LENGTH_MATCHED_INSTRUCTIONS.format(n=INTENTS_PER_TOPIC),
        user_template=_USER,
        example_intents=_LENGTH_MATCHED_EXAMPLE,
        fields=("intent", "user_information_need", "specific_query", "ambiguity_type", "detail",
                "vague_replacement"),
        field_enums={"ambiguity_type": tuple(AMBIGUITY_TYPES)},
        ambiguous_by_replacement=True,
    ),
    "taxonomy": PromptStyle(
        name="taxonomy",
        description="one minimal pair per ambiguity type of a declared taxonomy, registers rotated, "
                    "lengths within 2 words",
        system=_SYSTEM + "\n\n" + _TAXONOMY_INSTRUCTIONS,
        user_template='Topic: "{topic}". Registers: {plan}.',
        example_intents=_TAXONOMY_EXAMPLE,
        fields=("specific_query", "ambiguous_query", "missing_information"),
        layout="taxonomy",
        max_word_difference=2,
    ),
    "real_seeded": PromptStyle(
        name="real_seeded",
        description="a real, unlabeled AmbigNQ-train question rewritten into a one-answer and an "
                    "underspecified question in its style",
        system=_SYSTEM + "\n\n" + _REWRITE_INSTRUCTIONS,
        user_template='Question: "{topic}"',
        example_intents=_REWRITE_EXAMPLE,
        fields=("specific_query", "ambiguous_query", "ambiguity_type", "missing_information"),
        field_enums={"ambiguity_type": tuple(TAXONOMY)},
        layout="rewrite",
        max_word_difference=3,
    ),
}


def get_prompt_style(name: str) -> PromptStyle:
    """The registered prompt style ``name``; a clear error listing the styles otherwise."""
    try:
        return PROMPT_STYLES[name]
    except KeyError:
        raise PromptError(f"Unknown prompt style {name!r}. Choose one of: {', '.join(PROMPT_STYLES)}.") from None
