"""Any OpenAI-compatible chat endpoint (OpenAI itself, a vLLM server, llama.cpp's server).

Retries with exponential backoff and jitter on 408/409/429/5xx, timeouts and connection errors, honouring
``Retry-After`` / ``retry-after-ms``; other HTTP errors fail at once. A cap on concurrent requests (a thread
pool). An answer cut off by length or a content filter is returned with that ``finish_reason`` (not ``ok``).
"""

from __future__ import annotations

import dataclasses
import email.utils
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

from ambig_lib.teachers.base import ChatRequest, ChatResponse, TeacherError, error_response
from ambig_lib.teachers.openai_wire import chat_body, check_schema_mode, parse_chat_completion

RETRY_STATUS = frozenset({408, 409, 429})
OPENAI_BASE_URL = "https://api.openai.com/v1"


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def resolve_api_key(api_key_env: str, base_url: str | None) -> str:
    """The API key from ``$api_key_env``; local servers (a base URL given) accept a placeholder."""
    key = os.environ.get(api_key_env, "").strip()
    if key:
        return key
    if base_url is None:
        raise TeacherError(f"${api_key_env} is not set. Fix: export {api_key_env}=... for the OpenAI API, "
                           "or pass base_url= for a local OpenAI-compatible server.")
    return "EMPTY"


class OpenAIChatTeacher:
    """A teacher served through ``/v1/chat/completions``.

    ``schema_mode`` says how a JSON schema is sent (see ``openai_wire.SCHEMA_MODES``); ``auto`` tries
    ``json_schema`` and, after a 400 or 422 (or any error naming ``response_format``: llama.cpp's server answers
    500), falls back to ``json_object_schema`` for good.
    A request for log-probabilities that the endpoint refuses (an error naming ``logprobs``) is sent again
    without them, and so are later ones: the answer then comes without ``top_logprobs``.
    ``revision`` names the model snapshot (or the served file's SHA-256) in the identity, since the model
    name alone does not pin the weights behind a server.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_concurrency: int = 8, max_retries: int = 6, timeout: float = 120.0,
                 schema_mode: str = "json_schema", strict: bool = False, revision: str | None = None,
                 backoff_base: float = 1.0, backoff_max: float = 60.0, name: str | None = None,
                 extra_body: dict[str, Any] | None = None, progress: bool = True, jitter_seed: int = 0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_concurrency < 1 or max_retries < 0:
            raise TeacherError(f"max_concurrency must be >= 1 and max_retries >= 0 "
                               f"(got {max_concurrency}, {max_retries})")
        import openai

        self.model = model
        self.name = name or model
        self.base_url = base_url
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.schema_mode = check_schema_mode(schema_mode)
        self.strict = strict
        self.revision = revision
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.extra_body = dict(extra_body or {})
        self.progress = progress
        self.calls = 0  # HTTP attempts made, retries included
        self.logprobs_supported = True  # set to False after the endpoint refused a request for logprobs
        self._sleep = sleep
        self._rng = random.Random(jitter_seed)
        self._lock = threading.Lock()
        self._openai = openai
        self._client = openai.OpenAI(api_key=resolve_api_key(api_key_env, base_url), base_url=base_url,
                                     timeout=timeout, max_retries=0)

    @property
    def preferred_chunk_size(self) -> int:
        return self.max_concurrency

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "revision": self.revision}

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer every request, at most ``max_concurrency`` at a time, in order."""
        if not requests:
            return []
        workers = min(self.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self.complete_one, r) for r in requests]
            with tqdm(total=len(futures), desc=f"{self.name}", disable=not self.progress or len(futures) < 2,
                      leave=False) as bar:
                for _ in as_completed(futures):
                    bar.update(1)
        return [f.result() for f in futures]

    def complete_one(self, request: ChatRequest) -> ChatResponse:
        """One request with retries; never raises for HTTP or network failures."""
        auto = self.schema_mode == "auto"
        mode = "json_schema" if auto else self.schema_mode
        sent = request if self.logprobs_supported else dataclasses.replace(request, logprobs=None)
        last = "no attempt made"
        attempt = 0
        while attempt <= self.max_retries:
            body = chat_body(sent, self.model, mode, self.strict, self.extra_body)
            with self._lock:
                self.calls += 1
            try:
                completion = self._client.chat.completions.create(**body)
            except self._openai.APIStatusError as exc:
                status = exc.status_code
                last = f"HTTP {status}: {_short(exc)}"
                if auto and mode == "json_schema" and request.json_schema is not None \
                        and (status in (400, 422) or "response_format" in last):
                    mode = "json_object_schema"
                    continue  # a fallback, not a retry
                if sent.logprobs and "logprobs" in last.lower() and (status in (400, 422) or status >= 500):
                    self.logprobs_supported = False  # e.g. llama.cpp's server without logits_all
                    sent = dataclasses.replace(sent, logprobs=None)
                    continue  # answer without log-probabilities rather than not at all
                if status not in RETRY_STATUS and status < 500:
                    return error_response(f"{self.name}: {last}", status=status, attempts=attempt + 1)
                wait = retry_after_seconds(exc.response.headers if exc.response is not None else None)
            except (self._openai.APITimeoutError, self._openai.APIConnectionError) as exc:
                last = f"{exc.__class__.__name__}: {_short(exc)}"
                wait = None
            else:
                if auto and mode != "json_schema":
                    self.schema_mode = mode  # later requests go straight to the fallback
                return parse_chat_completion(completion.model_dump())
            if attempt < self.max_retries:
                self._sleep(self._backoff(attempt, wait))
            attempt += 1
        return error_response(f"{self.name}: gave up after {self.max_retries + 1} attempts; last error: {last}",
                              attempts=self.max_retries + 1)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with equal jitter; never shorter than the server's Retry-After."""
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        with self._lock:
            jittered = delay / 2 + self._rng.uniform(0, delay / 2)
        return max(jittered, retry_after) if retry_after is not None else jittered


def _short(exc: Exception, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."
