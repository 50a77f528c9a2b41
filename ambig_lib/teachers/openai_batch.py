"""The OpenAI Batch API: build the request JSONL, submit once, resume on re-run, collect the answers.

Input lines are ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``, the format
``vllm run-batch`` reads too, so :func:`parse_batch_output` also reads ``vllm run-batch`` output files.

The run directory keeps, per input file (named by its SHA-256), the uploaded file id, the batch id, its
status and the downloaded output and error files. ``batch_state.json`` is written right after each step, so
a re-run (after a crash, or simply later) polls or collects the batch already paid for instead of
submitting it again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ambig_lib.core.io import sha256_text, write_json_atomic, write_text_atomic
from ambig_lib.teachers.base import (
    ALL_AT_ONCE,
    ChatRequest,
    ChatResponse,
    TeacherError,
    canonical_json,
    error_response,
)
from ambig_lib.teachers.openai_chat import resolve_api_key
from ambig_lib.teachers.openai_wire import chat_body, parse_chat_completion, response_format

CHAT_URL = "/v1/chat/completions"
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
STATE_FILE = "batch_state.json"


class BatchPendingError(TeacherError):
    """The batch is submitted but not finished; re-run later to collect it (nothing is submitted twice)."""


def custom_id(index: int) -> str:
    """The id of the ``index``-th request of a batch (zero-padded, so ids sort in request order)."""
    return f"request-{index:06d}"


def build_batch_lines(requests: Sequence[ChatRequest], model: str, schema_mode: str = "json_schema",
                      strict: bool = False, extra_body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One Batch API input line per request, in order."""
    if schema_mode == "auto":
        schema_mode = "json_schema"
    if requests and requests[0].json_schema is not None:
        response_format(requests[0].json_schema, schema_mode)  # validates the mode early
    return [{"custom_id": custom_id(i), "method": "POST", "url": CHAT_URL,
             "body": chat_body(r, model, schema_mode, strict, extra_body)} for i, r in enumerate(requests)]


def batch_input_text(lines: Sequence[dict[str, Any]]) -> str:
    """The JSONL text of ``lines`` (canonical JSON: the same requests always give the same bytes)."""
    return "".join(canonical_json(line) + "\n" for line in lines)


def _parse_line(record: dict[str, Any]) -> ChatResponse:
    error = record.get("error")
    if error:
        if isinstance(error, dict):
            return error_response(f"batch error {error.get('code')}: {error.get('message')}", batch_error=error)
        return error_response(f"batch error: {error}")
    response = record.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return error_response(f"HTTP {status}: {message or str(body)[:300]}", status=status)
    return parse_chat_completion(body)


def parse_batch_output(ids: Sequence[str], output_text: str | None,
                       error_text: str | None = None) -> list[ChatResponse]:
    """Responses for ``ids`` (in that order) from the batch output and error files.

    Lines may come in any order; a request with no line in either file becomes an error response.
    """
    by_id: dict[str, ChatResponse] = {}
    for source, text in (("output", output_text), ("error", error_text)):
        for number, raw in enumerate((text or "").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                key = record["custom_id"]
            except (ValueError, KeyError, TypeError) as exc:
                raise TeacherError(f"batch {source} file line {number} is not a batch result: {exc}") from None
            by_id.setdefault(key, _parse_line(record))
    return [by_id.get(i) or error_response(f"batch returned no result for {i}") for i in ids]


class OpenAIBatchTeacher:
    """A teacher answered through the Batch API (half price, up to 24 h).

    ``wait=True`` polls every ``poll_interval`` seconds until the batch ends (or ``max_wait`` passes, then
    :class:`BatchPendingError`); ``wait=False`` checks once and raises :class:`BatchPendingError` while
    pending. The identity equals :class:`OpenAIChatTeacher`'s for the same model and revision, so cached
    answers serve both. Behind ``CachedTeacher`` one ``complete`` call is one batch.
    """

    def __init__(self, model: str, run_dir: str | os.PathLike[str], base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", schema_mode: str = "json_schema", strict: bool = False,
                 revision: str | None = None, completion_window: str = "24h", poll_interval: float = 60.0,
                 max_wait: float | None = None, wait: bool = True, name: str | None = None,
                 extra_body: dict[str, Any] | None = None, metadata: dict[str, str] | None = None,
                 timeout: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> None:
        import openai

        self.model = model
        self.name = name or model
        self.run_dir = Path(run_dir)
        self.schema_mode = schema_mode
        self.strict = strict
        self.revision = revision
        self.completion_window = completion_window
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.wait = wait
        self.extra_body = dict(extra_body or {})
        self.metadata = dict(metadata or {})
        self._sleep = sleep
        self._client = openai.OpenAI(api_key=resolve_api_key(api_key_env, base_url), base_url=base_url,
                                     timeout=timeout, max_retries=5)

    preferred_chunk_size = ALL_AT_ONCE  # one batch per run

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "revision": self.revision}

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def load_state(self) -> dict[str, Any]:
        """``{"batches": {input_sha256: entry}}`` from the run directory (empty when new)."""
        if not self.state_path.exists():
            return {"batches": {}}
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TeacherError(f"{self.state_path} is not valid JSON ({exc}). Fix: restore it; deleting it "
                               "makes the next run submit (and pay for) the batch again.") from None

    def _save(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.state_path, state)

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Submit (or resume) the batch of ``requests`` and return its answers in order."""
        if not requests:
            return []
        lines = build_batch_lines(requests, self.model, self.schema_mode, self.strict, self.extra_body)
        text = batch_input_text(lines)
        digest = sha256_text(text)
        stem = f"batch-{digest[:16]}"
        input_path = self.run_dir / f"{stem}.input.jsonl"
        if not input_path.exists():
            write_text_atomic(input_path, text)
        state = self.load_state()
        entry = state["batches"].setdefault(digest, {"input_file": input_path.name, "n_requests": len(lines)})
        self._submit(state, entry, input_path)
        self._poll(state, entry)
        output_text = self._download(state, entry, "output_file_id", self.run_dir / f"{stem}.output.jsonl")
        error_text = self._download(state, entry, "error_file_id", self.run_dir / f"{stem}.errors.jsonl")
        if entry["status"] == "failed" and output_text is None:
            raise TeacherError(f"batch {entry['batch_id']} failed: {entry.get('errors')}. Fix the input, then "
                               f"remove its entry from {self.state_path} to submit again.")
        return parse_batch_output([line["custom_id"] for line in lines], output_text, error_text)

    def _submit(self, state: dict[str, Any], entry: dict[str, Any], input_path: Path) -> None:
        if entry.get("batch_id"):
            return
        if not entry.get("input_file_id"):
            with open(input_path, "rb") as handle:
                uploaded = self._client.files.create(file=(input_path.name, handle.read()), purpose="batch")
            entry["input_file_id"] = uploaded.id
            self._save(state)
        batch = self._client.batches.create(input_file_id=entry["input_file_id"], endpoint=CHAT_URL,
                                            completion_window=self.completion_window,
                                            metadata=self.metadata or None)
        entry.update(batch_id=batch.id, status=batch.status, submitted_at=int(time.time()))
        self._save(state)

    def _poll(self, state: dict[str, Any], entry: dict[str, Any]) -> None:
        started = time.monotonic()
        while entry.get("status") not in TERMINAL_STATUSES:
            batch = self._client.batches.retrieve(entry["batch_id"])
            counts = batch.request_counts.model_dump() if batch.request_counts is not None else None
            errors = batch.errors.model_dump() if batch.errors is not None else None
            entry.update(status=batch.status, output_file_id=batch.output_file_id,
                         error_file_id=batch.error_file_id, request_counts=counts, errors=errors)
            self._save(state)
            if batch.status in TERMINAL_STATUSES:
                return
            waited = time.monotonic() - started
            if not self.wait or (self.max_wait is not None and waited + self.poll_interval > self.max_wait):
                raise BatchPendingError(
                    f"batch {entry['batch_id']} is {batch.status} ({counts}); state in {self.state_path}. "
                    "Re-run later to collect it; it will not be submitted again.")
            self._sleep(self.poll_interval)

    def _download(self, state: dict[str, Any], entry: dict[str, Any], field: str, path: Path) -> str | None:
        if path.exists():
            return path.read_text(encoding="utf-8")
        file_id = entry.get(field)
        if not file_id:
            return None
        text = self._client.files.content(file_id).text
        write_text_atomic(path, text)
        entry[field.replace("_id", "")] = path.name
        self._save(state)
        return text
