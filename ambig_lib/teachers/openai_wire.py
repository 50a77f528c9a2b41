"""The OpenAI chat-completions wire format, shared by the live client and the Batch API.

``chat_body`` turns a :class:`ChatRequest` into a request body; ``parse_chat_completion`` turns a response body
(a dict, as returned by the API or found in a batch output line) into a :class:`ChatResponse`.
"""

from __future__ import annotations

from typing import Any

from ambig_lib.teachers.base import ChatRequest, ChatResponse, TeacherError

#: How a JSON schema is sent. ``json_schema``: OpenAI / vLLM structured outputs. ``json_object_schema``:
#: ``{"type": "json_object", "schema": ...}`` (llama.cpp's server). ``json_object``: JSON mode without the
#: schema (the prompt must describe it). ``none``: no response_format at all.
SCHEMA_MODES = ("json_schema", "json_object_schema", "json_object", "none")


def check_schema_mode(mode: str) -> str:
    """Return ``mode`` if it is a known schema mode; raise a clear error otherwise."""
    if mode not in SCHEMA_MODES and mode != "auto":
        raise TeacherError(f"Unknown schema_mode {mode!r}; choose one of: auto, {', '.join(SCHEMA_MODES)}.")
    return mode


def response_format(schema: dict[str, Any], mode: str, strict: bool = False,
                    name: str = "response") -> dict[str, Any] | None:
    """The ``response_format`` field for ``schema`` in ``mode``."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "none":
        return None
    raise TeacherError(f"Unknown schema_mode {mode!r}; choose one of: {', '.join(SCHEMA_MODES)}.")


def chat_body(request: ChatRequest, model: str, schema_mode: str = "json_schema", strict: bool = False,
              extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``/v1/chat/completions`` request body for ``request``."""
    if not request.messages:
        raise TeacherError("A chat request needs at least one message.")
    body: dict[str, Any] = {
        "model": model,
        "messages": [dict(m) for m in request.messages],
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    seed = request.effective_seed()
    if seed is not None:
        body["seed"] = seed
    if request.json_schema is not None:
        fmt = response_format(request.json_schema, schema_mode, strict)
        if fmt is not None:
            body["response_format"] = fmt
    if request.logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.logprobs
    if extra_body:
        body.update(extra_body)
    return body


def finite_logprob(value: float) -> float:
    """A log-probability safe for JSON: -inf (a token ruled out) becomes -1e9."""
    value = float(value)
    return value if value > -1e9 else -1e9


def _top_logprobs(choice: dict[str, Any]) -> list[dict[str, float]] | None:
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    out: list[dict[str, float]] = []
    for item in content:
        tops = item.get("top_logprobs") or []
        entry = {t["token"]: finite_logprob(t["logprob"]) for t in tops}
        entry.setdefault(item["token"], finite_logprob(item["logprob"]))
        out.append(entry)
    return out


def parse_chat_completion(body: dict[str, Any]) -> ChatResponse:
    """A :class:`ChatResponse` from a chat-completion response body.

    A refusal (structured outputs) becomes ``finish_reason="refusal"``; like ``length`` and ``content_filter``
    it is a model answer that is not ``ok``.
    """
    choices = body.get("choices") or []
    if not choices:
        return ChatResponse(text="", finish_reason="error", error=f"response has no choices: {str(body)[:300]}")
    choice = choices[0]
    message = choice.get("message") or {}
    finish = choice.get("finish_reason") or "unknown"
    if message.get("refusal"):
        finish = "refusal"
    usage = body.get("usage") or {}
    extra = {k: body[k] for k in ("model", "system_fingerprint") if body.get(k)}
    if message.get("refusal"):
        extra["refusal"] = message["refusal"]
    return ChatResponse(
        text=message.get("content") or "",
        finish_reason=finish,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        top_logprobs=_top_logprobs(choice),
        extra=extra,
    )
