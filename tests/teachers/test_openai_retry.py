"""OpenAIChatTeacher against a scripted local HTTP server (stdlib, 127.0.0.1 only).

The server is a stand-in for a remote endpoint's failure modes (429, 5xx, 400, cut-off answers), which a real
model server does not produce on demand; the client code under test is the real one, over real HTTP.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from http_helpers import serving

from ambig_lib.teachers import (
    CachedTeacher,
    ChatRequest,
    OpenAIChatTeacher,
    TeacherError,
    canonical_json,
    parse_chat_completion,
)
from ambig_lib.teachers.openai_chat import retry_after_seconds

REQUEST = ChatRequest(messages=({"role": "user", "content": "Say hello."},), max_tokens=8, seed=3,
                      sample_index=1)


def completion(text: str = "hello", finish: str = "stop") -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


class ScriptedServer:
    """Answers POST /v1/chat/completions from a script of (status, headers, body); records every request."""

    def __init__(self, script: list[tuple[int, dict[str, str], dict[str, Any]]], delay: float = 0.0) -> None:
        self.script = list(script)
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.bodies.append(body)
                    step = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                time.sleep(owner.delay)
                status, headers, payload = step(body) if callable(step) else step
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
                with owner._lock:
                    owner.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        return len(self.bodies)


@contextmanager
def serve(script: list[Any], delay: float = 0.0) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script, delay)
    with serving(server.httpd):
        yield server


def teacher(base_url: str, **kw: Any) -> OpenAIChatTeacher:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_retries", 3)
    return OpenAIChatTeacher("scripted", base_url=base_url, timeout=10, progress=False, **kw)


ERROR = {"error": {"message": "scripted failure", "type": "server_error"}}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_a_transient_status_then_returns_the_answer(status: int) -> None:
    with serve([(status, {"Retry-After": "0"}, ERROR), (200, {}, completion("hello"))]) as server:
        [response] = teacher(server.base_url).complete([REQUEST])
    assert server.calls == 2
    assert (response.text, response.ok, response.error) == ("hello", True, None)
    assert (response.prompt_tokens, response.completion_tokens) == (5, 1)
    assert server.bodies[0] == server.bodies[1]  # the retry is the same request


def test_a_client_error_is_not_retried() -> None:
    with serve([(400, {}, {"error": {"message": "bad schema"}})]) as server:
        t = teacher(server.base_url)
        [response] = t.complete([REQUEST])
    assert server.calls == 1 and t.calls == 1
    assert not response.ok and response.finish_reason == "error"
    assert "HTTP 400" in (response.error or "") and "bad schema" in (response.error or "")


def test_gives_up_after_max_retries_with_the_last_error() -> None:
    with serve([(503, {}, ERROR)]) as server:
        [response] = teacher(server.base_url, max_retries=2).complete([REQUEST])
    assert server.calls == 3
    assert response.error is not None and "gave up after 3 attempts" in response.error and "503" in response.error


def test_retry_after_is_honoured() -> None:
    with serve([(429, {"Retry-After": "1"}, ERROR), (200, {}, completion())]) as server:
        started = time.monotonic()
        [response] = teacher(server.base_url, backoff_base=0.001).complete([REQUEST])
        elapsed = time.monotonic() - started
    assert response.ok and server.calls == 2
    assert 1.0 <= elapsed < 5.0


def test_backoff_grows_exponentially_with_jitter() -> None:
    waits: list[float] = []
    with serve([(500, {}, ERROR)]) as server:
        teacher(server.base_url, backoff_base=1.0, backoff_max=8.0, max_retries=5,
                sleep=waits.append).complete([REQUEST])
    assert server.calls == 6 and len(waits) == 5
    for attempt, wait in enumerate(waits):
        delay = min(8.0, 2.0**attempt)
        assert delay / 2 <= wait <= delay
    assert waits[3] > waits[0]


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = teacher(f"http://127.0.0.1:{port}/v1", max_retries=2)
    [response] = t.complete([REQUEST])
    assert t.calls == 3
    assert response.error is not None and "APIConnectionError" in response.error


@pytest.mark.parametrize("finish", ["length", "content_filter"])
def test_cut_off_answers_are_failures_but_not_errors(finish: str) -> None:
    with serve([(200, {}, completion("{\"a\": ", finish))]) as server:
        [response] = teacher(server.base_url).complete([REQUEST])
    assert server.calls == 1
    assert response.finish_reason == finish and response.error is None and not response.ok


def test_refusal_is_a_failure() -> None:
    body = completion("")
    body["choices"][0]["message"]["refusal"] = "I can't help with that."
    with serve([(200, {}, body)]) as server:
        [response] = teacher(server.base_url).complete([REQUEST])
    assert response.finish_reason == "refusal" and not response.ok


def test_request_body_carries_schema_seed_and_sampling() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    request = ChatRequest(messages=({"role": "user", "content": "x"},), temperature=1.0, top_p=0.9,
                          max_tokens=7, seed=3, sample_index=2, json_schema=schema, logprobs=2)
    with serve([(200, {}, completion())]) as server:
        teacher(server.base_url).complete([request])
    body = server.bodies[0]
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "response", "schema": schema, "strict": False}}
    assert body["seed"] == request.effective_seed() == 3 + 2 * 1_000_003
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 0.9, 7)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 2)


def test_auto_schema_mode_falls_back_to_json_object_once() -> None:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if body["response_format"]["type"] == "json_schema":
            return 400, {}, {"error": {"message": "response_format json_schema unsupported"}}
        return 200, {}, completion('{"a": "b"}')

    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = ChatRequest(messages=({"role": "user", "content": "x"},), json_schema=schema)
    with serve([answer]) as server:
        t = teacher(server.base_url, schema_mode="auto")
        first, second = t.complete([request, request])
    assert first.ok and second.ok and t.schema_mode == "json_object_schema"
    kinds = [b["response_format"]["type"] for b in server.bodies]
    assert kinds.count("json_object") == 2 and kinds.count("json_schema") <= 2 and server.calls <= 4


def test_refused_logprobs_are_dropped_and_the_answer_still_comes() -> None:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if body.get("logprobs"):
            return 500, {}, {"error": {"message": "logprobs is not supported for models created with "
                                                  "logits_all=False"}}
        return 200, {}, completion("yes")

    request = ChatRequest(messages=({"role": "user", "content": "x"},), logprobs=5)
    with serve([answer]) as server:
        t = teacher(server.base_url, max_concurrency=1)
        first, second = t.complete([request, request])
    assert first.ok and second.ok and first.text == "yes" and first.top_logprobs is None
    assert not t.logprobs_supported
    assert [bool(b.get("logprobs")) for b in server.bodies] == [True, False, False]  # asked once, then not


def test_concurrency_is_capped() -> None:
    with serve([(200, {}, completion())], delay=0.2) as server:
        responses = teacher(server.base_url, max_concurrency=2).complete([REQUEST] * 6)
    assert all(r.ok for r in responses) and server.calls == 6
    assert server.max_in_flight == 2


def test_missing_api_key_for_openai_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMBIG_TEST_NO_KEY", raising=False)
    with pytest.raises(TeacherError, match="AMBIG_TEST_NO_KEY is not set"):
        OpenAIChatTeacher("gpt-4.1", api_key_env="AMBIG_TEST_NO_KEY")


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(TeacherError, match="schema_mode"):
        OpenAIChatTeacher("m", base_url="http://127.0.0.1:9/v1", schema_mode="xml")
    with pytest.raises(TeacherError, match="max_concurrency"):
        OpenAIChatTeacher("m", base_url="http://127.0.0.1:9/v1", max_concurrency=0)


def test_retry_after_header_forms() -> None:
    future = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert 25.0 < (retry_after_seconds({"retry-after": future}) or 0.0) <= 30.0
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


def test_the_cache_keeps_the_concurrency_of_the_teacher(tmp_path: Path) -> None:
    requests = [ChatRequest(messages=({"role": "user", "content": f"q{i}"},)) for i in range(6)]
    with serve([(200, {}, completion())], delay=0.2) as server:
        cached = CachedTeacher(teacher(server.base_url, max_concurrency=3), tmp_path / "c.jsonl")
        responses = cached.complete(requests)
    assert cached.chunk_size == 3 and server.max_in_flight == 3 and all(r.ok for r in responses)


def test_minus_infinity_logprobs_stay_json_safe() -> None:
    body = completion("yes")
    body["choices"][0]["logprobs"] = {"content": [{"token": "yes", "logprob": -0.1, "top_logprobs": [
        {"token": "yes", "logprob": -0.1}, {"token": "no", "logprob": float("-inf")}]}]}
    response = parse_chat_completion(body)
    assert response.top_logprobs == [{"yes": -0.1, "no": -1e9}]
    assert json.loads(canonical_json(response.to_record()))["top_logprobs"] == [{"yes": -0.1, "no": -1e9}]
