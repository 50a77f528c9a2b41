"""The content-addressed response cache: hits make no model call, the file survives interruptions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ambig_lib.teachers import (
    CachedTeacher,
    CacheFileError,
    CacheMissError,
    ChatRequest,
    ChatResponse,
    LlamaCppTeacher,
    cache_key,
    error_response,
    load_cache_file,
)
from ambig_lib.teachers.cache import CacheRepairWarning


class ScriptedTeacher:
    """A stand-in model for the cache's bookkeeping tests (the file logic does not depend on the model).

    Answers ``answer-<content>-<sample_index>``; a prompt containing LONG is cut off by length, one containing
    DOWN fails with a transport error, and ``crash_after`` raises mid-run like a killed process.
    """

    name = "scripted"

    def __init__(self, sha: str = "a" * 64, crash_after: int | None = None) -> None:
        self.sha = sha
        self.crash_after = crash_after
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {"backend": "scripted", "model": "m", "sha256": self.sha}

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        out = []
        for r in requests:
            if self.crash_after is not None and self.calls >= self.crash_after:
                raise KeyboardInterrupt
            self.calls += 1
            content = r.messages[-1]["content"]
            if "DOWN" in content:
                out.append(error_response("HTTP 503 after retries"))
            else:
                out.append(ChatResponse(text=f"answer-{content}-{r.sample_index}",
                                        finish_reason="length" if "LONG" in content else "stop",
                                        prompt_tokens=3, completion_tokens=2))
        return out


def req(content: str, sample_index: int = 0) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": content},), sample_index=sample_index)


def test_second_run_makes_no_model_call_with_the_real_gguf_teacher(tmp_path: Path) -> None:
    class Counting:
        def __init__(self, inner: LlamaCppTeacher) -> None:
            self.inner, self.name, self.calls = inner, inner.name, 0

        def identity(self) -> dict[str, Any]:
            return self.inner.identity()

        def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
            self.calls += len(requests)
            return self.inner.complete(requests)

    counting = Counting(LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=512, progress=False))
    path = tmp_path / "responses.jsonl"
    requests = [ChatRequest(messages=({"role": "user", "content": f"Name a colour. ({i})"},), max_tokens=6,
                            temperature=0.8, seed=1) for i in range(2)]
    first = CachedTeacher(counting, path).complete(requests)
    assert counting.calls == 2 and not any(r.cached for r in first)
    size = path.stat().st_size
    again = CachedTeacher(counting, path)  # as a re-run would open it
    second = again.complete(requests)
    assert counting.calls == 2, "a cache hit must not call the model"
    assert again.stats() == {"hits": 2, "misses": 0, "stored": 0, "entries": 2}
    assert [r.text for r in second] == [r.text for r in first] and all(r.cached for r in second)
    assert path.stat().st_size == size


def test_records_are_canonical_and_keyed_by_identity_and_request(tmp_path: Path) -> None:
    teacher = ScriptedTeacher()
    path = tmp_path / "c.jsonl"
    CachedTeacher(teacher, path).complete([req("x")])
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["key"] == cache_key(teacher.identity(), req("x"))
    assert record["ok"] is True and record["request"] == req("x").cache_fields()
    assert record["response"]["text"] == "answer-x-0" and "cached" not in record["response"]
    assert line == json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert cache_key(teacher.identity(), req("x", 1)) != record["key"]
    assert cache_key(ScriptedTeacher(sha="b" * 64).identity(), req("x")) != record["key"]


def test_new_sample_index_or_new_model_file_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    teacher = ScriptedTeacher()
    cached = CachedTeacher(teacher, path)
    cached.complete([req("x"), req("x", 1)])
    other = ScriptedTeacher(sha="b" * 64)
    CachedTeacher(other, path).complete([req("x")])
    assert (teacher.calls, other.calls) == (2, 1)


def test_cut_off_answers_are_cached_as_failures_transport_errors_are_not(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    teacher = ScriptedTeacher()
    long, down = CachedTeacher(teacher, path).complete([req("LONG"), req("DOWN")])
    assert not long.ok and long.error is None and not down.ok and down.error
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["response"]["text"], r["ok"]) for r in records] == [("answer-LONG-0", False)]
    again = CachedTeacher(teacher, path)
    long2, down2 = again.complete([req("LONG"), req("DOWN")])
    assert teacher.calls == 3 and long2.cached and not long2.ok and not down2.cached  # DOWN asked again
    retry = again.complete([req("LONG", sample_index=1)])[0]
    assert teacher.calls == 4 and retry.text == "answer-LONG-1"


def test_duplicate_requests_in_one_call_reach_the_model_once(tmp_path: Path) -> None:
    teacher = ScriptedTeacher()
    out = CachedTeacher(teacher, tmp_path / "c.jsonl").complete([req("x"), req("y"), req("x")])
    assert teacher.calls == 2 and [r.text for r in out] == ["answer-x-0", "answer-y-0", "answer-x-0"]


def test_truncated_last_line_is_dropped_and_the_file_repaired(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    CachedTeacher(ScriptedTeacher(), path).complete([req("a"), req("b")])
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])  # killed mid-write
    teacher = ScriptedTeacher()
    with pytest.warns(CacheRepairWarning, match=r"c\.jsonl: line 2 is a partial record \(\d+ bytes.*removed it"):
        cached = CachedTeacher(teacher, path)  # the repair says what it dropped
    assert len(cached) == 1 and path.read_bytes() == lines[0]
    out = cached.complete([req("a"), req("b")])
    assert teacher.calls == 1 and out[0].cached and out[1].text == "answer-b-0"
    assert path.read_bytes() == lines[0] + lines[1]


def test_a_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    CachedTeacher(ScriptedTeacher(), path).complete([req("a")])
    data = path.read_bytes()
    path.write_bytes(data.rstrip(b"\n"))
    with pytest.warns(CacheRepairWarning, match="nothing dropped"):
        assert len(load_cache_file(path)) == 1 and path.read_bytes() == data


def test_a_corrupt_middle_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    CachedTeacher(ScriptedTeacher(), path).complete([req("a"), req("b")])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "{oops\n" + lines[1])
    with pytest.raises(CacheFileError, match=r"line 2 is not a cache record"):
        CachedTeacher(ScriptedTeacher(), path)


def test_an_interrupted_run_resumes_to_the_same_file(tmp_path: Path) -> None:
    requests = [req(f"q{i}") for i in range(5)]
    reference = tmp_path / "reference.jsonl"
    CachedTeacher(ScriptedTeacher(), reference).complete(requests)
    path = tmp_path / "c.jsonl"
    with pytest.raises(KeyboardInterrupt):
        CachedTeacher(ScriptedTeacher(crash_after=3), path).complete(requests)
    assert len(path.read_text().splitlines()) == 3  # every finished answer was on disk
    teacher = ScriptedTeacher()
    out = CachedTeacher(teacher, path).complete(requests)
    assert teacher.calls == 2 and [r.cached for r in out] == [True, True, True, False, False]
    assert path.read_bytes() == reference.read_bytes()


def test_offline_cache_refuses_to_call_the_model(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    CachedTeacher(ScriptedTeacher(), path).complete([req("a")])
    teacher = ScriptedTeacher()
    offline = CachedTeacher(teacher, path, offline=True)
    assert offline.complete([req("a")])[0].text == "answer-a-0"
    with pytest.raises(CacheMissError, match="1 of 2 requests are not in"):
        offline.complete([req("a"), req("b")])
    assert teacher.calls == 0
