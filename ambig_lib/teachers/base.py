"""The one interface every teacher backend implements: ``complete(requests) -> responses``.

A request is a chat conversation plus sampling parameters and an optional JSON schema; a response is the
text with its finish reason and token counts. Backends know HTTP or engines; they never know what a topic is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from ambig_lib.core.errors import AmbigError

#: Multiplier that spreads sample indices over the seed space (a prime, so seeds of nearby requests differ).
_SAMPLE_SEED_STRIDE = 1_000_003


class TeacherError(AmbigError):
    """A teacher backend is misconfigured or unavailable (bad name, missing extra, missing API key, ...)."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make.

    ``sample_index`` distinguishes deliberate re-samples of the same prompt (a retry after invalid output):
    it is part of the cache key, so a retry is a new sample while a re-run reuses the cached one.
    """

    messages: tuple[dict[str, str], ...]
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = 0
    json_schema: dict[str, Any] | None = None
    sample_index: int = 0
    logprobs: int | None = None  # number of top log-probabilities wanted per token, where supported

    def cache_fields(self) -> dict[str, Any]:
        """Everything about the request that changes the answer (used in the cache key)."""
        return {
            "messages": [dict(m) for m in self.messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "json_schema": self.json_schema,
            "sample_index": self.sample_index,
            "logprobs": self.logprobs,
        }

    def effective_seed(self) -> int | None:
        """The seed sent to the backend: ``seed`` shifted by ``sample_index`` so a re-sample differs.

        Without this a retry with a new ``sample_index`` but the same seed would reproduce the failed answer
        on any backend that honours seeds.
        """
        if self.seed is None:
            return None
        return (self.seed + _SAMPLE_SEED_STRIDE * self.sample_index) % (2**31 - 1)


@dataclass
class ChatResponse:
    """A completion: text, why it stopped, token counts, and whether it came from the cache."""

    text: str
    finish_reason: str  # "stop", "length", "content_filter", "error", ...
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    top_logprobs: list[dict[str, float]] | None = None  # per generated token: {token: logprob}
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the model finished normally (a length or content-filter stop is a failure)."""
        return self.error is None and self.finish_reason == "stop"

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict of the response (``cached`` left out: it describes a lookup, not the answer)."""
        record = asdict(self)
        record.pop("cached")
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], cached: bool = False) -> ChatResponse:
        """Inverse of :meth:`to_record`; unknown keys are ignored so older files stay readable."""
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record and k != "cached"}
        return cls(**known, cached=cached)


def error_response(message: str, **extra: Any) -> ChatResponse:
    """A failed call (no answer from the model): ``finish_reason`` "error" and ``error`` set."""
    return ChatResponse(text="", finish_reason="error", error=message, extra=dict(extra))


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys: the same content always gives the same bytes (hashing, JSONL lines)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


#: Requests per ``complete`` call that suit a backend best when a caller can choose (an optional
#: ``preferred_chunk_size`` attribute of a teacher; see ``CachedTeacher``). Used for "all at once".
ALL_AT_ONCE = 1_000_000


@runtime_checkable
class Teacher(Protocol):
    """A teacher backend.

    Optional attribute: ``preferred_chunk_size`` (int), how many requests one ``complete`` call should carry.
    """

    name: str

    def identity(self) -> dict[str, Any]:
        """Backend, model and model file SHA-256 or revision: part of the cache key and of provenance."""
        ...

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer every request, in order. Failures are returned as responses with ``error`` set."""
        ...
