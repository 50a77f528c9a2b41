"""OpenAIChatTeacher talking to a real llama.cpp OpenAI-compatible server (127.0.0.1) running the 0.5B GGUF."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from ambig_lib.models.store import get_spec, resolve_model
from ambig_lib.teachers import CachedTeacher, ChatRequest, OpenAIChatTeacher, build_teacher
from ambig_lib.teachers.llamacpp import auto_threads

SCHEMA = {
    "type": "object",
    "properties": {"fruit": {"type": "string", "minLength": 1}, "colour": {"type": "string", "minLength": 1}},
    "required": ["fruit", "colour"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free loopback port; wait until it answers; always stop it.

    Its output goes to a log file (a pipe nobody reads fills up and blocks the server).
    """
    gguf = resolve_model("qwen2.5-coder-0.5b")
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "qwen-0.5b",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(auto_threads())]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready within 120 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def request(**kw: object) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": "Name one fruit and its usual colour, as JSON."},),
                       **kw)  # type: ignore[arg-type]


def test_schema_answer_through_the_server_with_auto_fallback(server_url: str) -> None:
    teacher = OpenAIChatTeacher("qwen-0.5b", base_url=server_url, schema_mode="auto", max_retries=1,
                                timeout=120, revision=get_spec("qwen2.5-coder-0.5b").sha256, progress=False)
    [response] = teacher.complete([request(max_tokens=40, temperature=0.2, json_schema=SCHEMA)])
    assert response.ok, response
    jsonschema.validate(json.loads(response.text), SCHEMA)
    assert teacher.schema_mode == "json_object_schema"  # llama.cpp's server rejects type json_schema (500)
    assert response.prompt_tokens > 5 and response.completion_tokens > 3


def test_cut_off_answer_from_the_server_is_not_ok_and_is_cached(server_url: str, tmp_path: Path) -> None:
    teacher = build_teacher("qwen2.5-coder-0.5b", backend="openai", base_url=server_url,
                            schema_mode="json_object_schema", progress=False)
    cached = CachedTeacher(teacher, tmp_path / "cache.jsonl")
    [response] = cached.complete([request(max_tokens=2)])
    assert response.finish_reason == "length" and not response.ok and response.completion_tokens == 2
    [again] = cached.complete([request(max_tokens=2)])
    assert again.cached and cached.stats()["misses"] == 1 and teacher.calls == 1



def test_llm_direct_through_the_server(server_url: str, tmp_path: Path) -> None:
    """LLM-direct classification against an OpenAI-compatible endpoint (the path used for vLLM or OpenAI)."""
    from ambig_lib.compare.llm_direct import cached_teacher, classify

    teacher = build_teacher("qwen2.5-coder-0.5b", backend="openai", base_url=server_url,
                            schema_mode="json_object_schema", progress=False)
    queries = ["Tell me about java", "In what year did the Berlin Wall fall?"]
    result = classify(cached_teacher(teacher, tmp_path / "cache.jsonl"), queries, "zero_shot")
    assert result.n_unparseable == 0 and set(result.frame["answer"].tolist()) <= {0, 1}
    if teacher.logprobs_supported:  # a server started without logits_all refuses logprobs: answers only
        assert result.has_scores
    else:
        assert not result.has_scores and teacher.calls >= 2
