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

from .errors import AmbigError
from .io_utils import sha256_text

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

    def user_message(self, topic: str) -> str:
        return self.user_template.format(topic=topic, n=INTENTS_PER_TOPIC)

    def example_output(self) -> str:
        """The worked example as the assistant would write it (compact JSON, one intent per line)."""
        lines = [json.dumps({k: item[k] for k in self.fields}, ensure_ascii=False) for item in self.example_intents]
        return '{"intents": [\n' + ",\n".join(lines) + "\n]}"

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the answer: an object with exactly ``INTENTS_PER_TOPIC`` intents."""
        properties: dict[str, Any] = {}
        for name in self.fields:
            spec: dict[str, Any] = {"type": "string"}
            if name in self.field_enums:
                spec["enum"] = list(self.field_enums[name])
            properties[name] = spec
        item = {"type": "object", "properties": properties, "required": list(self.fields),
                "additionalProperties": False}
        return {
            "type": "object",
            "properties": {"intents": {"type": "array", "items": item,
                                       "minItems": INTENTS_PER_TOPIC, "maxItems": INTENTS_PER_TOPIC}},
            "required": ["intents"],
            "additionalProperties": False,
        }

    def messages(self, topic: str) -> tuple[dict[str, str], ...]:
        """The chat sent for ``topic``: system, the worked example (user + assistant), the real request."""
        return (
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user_message(EXAMPLE_TOPIC)},
            {"role": "assistant", "content": self.example_output()},
            {"role": "user", "content": self.user_message(topic)},
        )

    def fingerprint(self) -> dict[str, Any]:
        """Everything that defines the prompt (hashed into :meth:`prompt_hash`)."""
        return {"name": self.name, "system": self.system, "user_template": self.user_template,
                "example_topic": EXAMPLE_TOPIC, "example_output": self.example_output(),
                "schema": self.json_schema()}

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
}


def get_prompt_style(name: str) -> PromptStyle:
    """The registered prompt style ``name``; a clear error listing the styles otherwise."""
    try:
        return PROMPT_STYLES[name]
    except KeyError:
        raise PromptError(f"Unknown prompt style {name!r}. Choose one of: {', '.join(PROMPT_STYLES)}.") from None
