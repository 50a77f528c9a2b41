"""A content-addressed response cache in front of any teacher.

Key: SHA-256 of the canonical JSON of ``{"identity": teacher.identity(), "request": request.cache_fields()}``
(backend, model, model file SHA-256 or revision, rendered messages, sampling parameters, schema, sample index).

Storage: one append-only JSONL file, one record per answer, written in request order, each line flushed and
fsync'd before the next model call, so an interrupted run loses nothing and a re-run continues where it
stopped. A truncated last line (a crash mid-write) is cut off on load, with a :class:`CacheRepairWarning` saying
what was dropped; a corrupt line elsewhere is an error.
The first record of a key wins; the file is deterministic for a deterministic sequence of requests.

What is cached: every answer the model produced, including failed ones (cut off by length, content filter,
refusal), marked ``"ok": false``. A re-run therefore reproduces the same failure and the caller's retry with
a new ``sample_index`` (a new key) gets, and caches, the new answer: re-runs stay byte-identical. Responses
with ``error`` set (connection errors, exhausted retries, server errors: no answer from the model) are not
cached, so the next run asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ambig_lib.teachers.base import ChatRequest, ChatResponse, Teacher, TeacherError, canonical_json


class CacheFileError(TeacherError):
    """The response cache file is corrupt somewhere other than its last line."""


class CacheRepairWarning(UserWarning):
    """A response cache was repaired on load (a partial last record from an interrupted write was dropped)."""


class CacheMissError(TeacherError):
    """A request was not in the cache and the cache was opened with ``offline=True``."""


def cache_key(identity: dict[str, Any], request: ChatRequest) -> str:
    """Hex SHA-256 naming one answer of one teacher to one request."""
    payload = canonical_json({"identity": identity, "request": request.cache_fields()})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _parse_record(raw: bytes) -> dict[str, Any]:
    record = json.loads(raw)
    if not isinstance(record, dict) or not isinstance(record.get("key"), str) \
            or not isinstance(record.get("response"), dict):
        raise ValueError("not a cache record (needs 'key' and 'response')")
    return record


def load_cache_file(path: Path, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Read a cache file into ``{key: record}`` (first record of a key wins).

    A last line without its newline is the trace of an interrupted write: it is kept when it parses (and its
    newline added) and dropped otherwise; with ``repair`` the file itself is fixed so appends stay valid.
    """
    entries: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return entries
    data = path.read_bytes()
    body, _, tail = data.rpartition(b"\n")
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = _parse_record(raw)
        except ValueError as exc:
            raise CacheFileError(
                f"{path}: line {number} is not a cache record ({exc}). "
                "Fix: restore the file from git, or delete that line (its request will be asked again)."
            ) from None
        entries.setdefault(record["key"], record)
    if tail.strip():
        line_no = body.count(b"\n") + 2 if body else 1
        try:
            record = _parse_record(tail)
        except ValueError:
            action = "removed it from the file" if repair else "ignored it"
            warnings.warn(CacheRepairWarning(
                f"{path}: line {line_no} is a partial record ({len(tail)} bytes, an interrupted write: "
                f"{tail[:60].decode('utf-8', 'replace')!r}...); {action}. Its request will be asked again."),
                stacklevel=2)
            if repair:  # drop the partial record
                with open(path, "r+b") as handle:
                    handle.truncate(len(data) - len(tail))
                    os.fsync(handle.fileno())
        else:
            entries.setdefault(record["key"], record)
            if repair:  # complete record, newline lost
                warnings.warn(CacheRepairWarning(f"{path}: line {line_no} is complete but lost its newline; "
                                                 "added it (nothing dropped)."), stacklevel=2)
                with open(path, "ab") as handle:
                    handle.write(b"\n")
                    handle.flush()
                    os.fsync(handle.fileno())
    return entries


class CachedTeacher:
    """Wraps a teacher: answers from the cache when it can, asks the teacher (and records) otherwise.

    ``chunk_size`` requests are sent to the teacher at a time, each chunk recorded before the next is sent;
    None takes the teacher's optional ``preferred_chunk_size`` (1 for llama.cpp, the concurrency cap for HTTP,
    everything at once for the Batch API and vLLM), else 1. ``offline=True`` raises
    :class:`CacheMissError` instead of calling the teacher (re-executing a study without a model).
    ``store_requests`` keeps the request fields in each record, so the file documents its prompts.
    """

    def __init__(self, teacher: Teacher, cache_path: str | os.PathLike[str], chunk_size: int | None = None,
                 offline: bool = False, store_requests: bool = True) -> None:
        if chunk_size is None:
            chunk_size = int(getattr(teacher, "preferred_chunk_size", 1))
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.teacher = teacher
        self.name = teacher.name
        self.path = Path(cache_path)
        self.chunk_size = chunk_size
        self.offline = offline
        self.store_requests = store_requests
        self.hits = 0
        self.misses = 0
        self.stored = 0
        self._lock = threading.Lock()
        self._identity = teacher.identity()
        self._entries = load_cache_file(self.path)

    def identity(self) -> dict[str, Any]:
        return self.teacher.identity()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request: ChatRequest) -> bool:
        return cache_key(self._identity, request) in self._entries

    def stats(self) -> dict[str, int]:
        """Hits and misses of this object's lifetime, records stored by it, and records in the file."""
        return {"hits": self.hits, "misses": self.misses, "stored": self.stored, "entries": len(self._entries)}

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer every request, in order; only requests absent from the cache reach the teacher."""
        keys = [cache_key(self._identity, r) for r in requests]
        results: list[ChatResponse | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            record = self._entries.get(key)
            if record is not None:
                results[i] = ChatResponse.from_record(record["response"], cached=True)
                self.hits += 1
            else:
                pending.setdefault(key, []).append(i)
        if pending and self.offline:
            raise CacheMissError(
                f"{len(pending)} of {len(requests)} requests are not in {self.path} (offline cache). "
                "Fix: run with the teacher available, or check that prompts and sampling settings match."
            )
        order = list(pending)
        for start in range(0, len(order), self.chunk_size):
            chunk = order[start:start + self.chunk_size]
            answers = self.teacher.complete([requests[pending[k][0]] for k in chunk])
            if len(answers) != len(chunk):
                raise TeacherError(f"{self.name}: teacher returned {len(answers)} answers for {len(chunk)} requests")
            self.misses += len(chunk)
            for key, answer in zip(chunk, answers, strict=True):
                first = pending[key][0]
                if answer.error is None:
                    self._append(key, requests[first], answer)
                for i in pending[key]:
                    results[i] = answer
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _append(self, key: str, request: ChatRequest, response: ChatResponse) -> None:
        record: dict[str, Any] = {"key": key, "ok": response.ok, "response": response.to_record()}
        if self.store_requests:
            record["request"] = request.cache_fields()
        line = canonical_json(record) + "\n"
        with self._lock:
            if key in self._entries:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            self._entries[key] = record
            self.stored += 1
