"""Batch API: request lines, result parsing in the documented format, and submit / resume / collect.

The paid OpenAI service cannot be called here. Building and parsing are checked against files in the
documented format; the submit / poll / download path runs the real OpenAIBatchTeacher (real openai client,
real HTTP) against ``FakeBatchAPI``, a FAKE of the Files and Batches endpoints on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from http_helpers import serving

from ambig_lib.teachers import (
    BatchPendingError,
    CachedTeacher,
    ChatRequest,
    OpenAIBatchTeacher,
    TeacherError,
    batch_input_text,
    build_batch_lines,
    parse_batch_output,
)

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def requests(n: int = 3) -> list[ChatRequest]:
    return [ChatRequest(messages=({"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": f"question {i}" + (" FAIL" if i == 1 else "")}),
                        temperature=1.0, top_p=1.0, max_tokens=50, seed=0, sample_index=i, json_schema=SCHEMA)
            for i in range(n)]


def chat_body(text: str, finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4.1-2025-04-14",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}


def test_batch_lines_follow_the_documented_input_format() -> None:
    lines = build_batch_lines(requests(), "gpt-4.1")
    assert [line["custom_id"] for line in lines] == ["request-000000", "request-000001", "request-000002"]
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in lines)
    body = lines[2]["body"]
    assert body["model"] == "gpt-4.1" and body["messages"][1] == {"role": "user", "content": "question 2"}
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert body["seed"] == 2 * 1_000_003 and body["max_tokens"] == 50
    text = batch_input_text(lines)
    assert text.endswith("\n") and [json.loads(raw) for raw in text.splitlines()] == lines
    assert batch_input_text(build_batch_lines(requests(), "gpt-4.1")) == text  # byte-stable


def test_batch_output_parsing_orders_by_custom_id_and_keeps_failures() -> None:
    output = "\n".join(json.dumps(line) for line in [  # any order, as the API documents
        {"id": "batch_req_2", "custom_id": "request-000002", "error": None,
         "response": {"status_code": 200, "request_id": "r2", "body": chat_body('{"q": "two"', "length")}},
        {"id": "batch_req_0", "custom_id": "request-000000", "error": None,
         "response": {"status_code": 200, "request_id": "r0", "body": chat_body('{"q": "zero"}')}},
    ]) + "\n"
    errors = json.dumps({"id": "batch_req_1", "custom_id": "request-000001", "response": {
        "status_code": 400, "request_id": "r1",
        "body": {"error": {"message": "Invalid schema", "type": "invalid_request_error"}}}, "error": None}) + "\n"
    ids = ["request-000000", "request-000001", "request-000002", "request-000003"]
    zero, one, two, three = parse_batch_output(ids, output, errors)
    assert (zero.text, zero.ok, zero.prompt_tokens, zero.completion_tokens) == ('{"q": "zero"}', True, 11, 4)
    assert zero.extra["model"] == "gpt-4.1-2025-04-14"
    assert not one.ok and one.error == "HTTP 400: Invalid schema"
    assert two.finish_reason == "length" and two.error is None and not two.ok
    assert three.error == "batch returned no result for request-000003"


def test_batch_error_objects_and_broken_lines() -> None:
    line = {"id": "x", "custom_id": "request-000000", "response": None,
            "error": {"code": "batch_expired", "message": "This request could not be executed before expiry."}}
    [response] = parse_batch_output(["request-000000"], None, json.dumps(line))
    assert response.error is not None and response.error.startswith("batch error batch_expired")
    with pytest.raises(TeacherError, match="output file line 1"):
        parse_batch_output(["request-000000"], "{not json\n")


class FakeBatchAPI:
    """A FAKE of OpenAI's /v1/files and /v1/batches endpoints: the batch completes after ``polls`` retrievals.

    Its "model" echoes the last user message as JSON; a request containing FAIL goes to the error file.
    """

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.hits: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/files":
                    owner.hits["upload"] += 1
                    self._send(owner.upload(self.headers["Content-Type"], body))
                elif self.path == "/v1/batches":
                    owner.hits["create"] += 1
                    self._send(owner.create(json.loads(body)))
                else:
                    self.send_error(404)

            def do_GET(self) -> None:  # noqa: N802
                parts = self.path.strip("/").split("/")
                if parts[:2] == ["v1", "batches"]:
                    owner.hits["retrieve"] += 1
                    self._send(owner.retrieve(parts[2]))
                elif parts[:2] == ["v1", "files"] and parts[-1] == "content":
                    owner.hits["download"] += 1
                    self._send(None, owner.files[parts[2]])
                else:
                    self.send_error(404)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in message.iter_parts()}
        assert fields["purpose"] == b"batch"
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = fields["file"]
        return {"id": file_id, "object": "file", "bytes": len(fields["file"]), "created_at": 0,
                "filename": "input.jsonl", "purpose": "batch", "status": "processed"}

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        assert body["endpoint"] == "/v1/chat/completions" and body["completion_window"] == "24h"
        batch = {"id": f"batch_{len(self.batches)}", "object": "batch", "endpoint": body["endpoint"],
                 "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
                 "created_at": 0, "retrievals": 0}
        self.batches[batch["id"]] = batch
        return {k: v for k, v in batch.items() if k != "retrievals"}

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        batch["retrievals"] += 1
        if batch["retrievals"] < self.polls:
            batch["status"] = "in_progress"
        elif batch["status"] != "completed":
            out, err = [], []
            for raw in reversed(self.files[batch["input_file_id"]].decode().splitlines()):
                line = json.loads(raw)
                question = line["body"]["messages"][-1]["content"]
                if "FAIL" in question:
                    err.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                        "status_code": 400, "request_id": "r",
                        "body": {"error": {"message": "scripted failure", "type": "invalid_request_error"}}}})
                else:
                    out.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                        "status_code": 200, "request_id": "r", "body": chat_body(json.dumps({"q": question}))}})
            self.files["file-out"] = "".join(json.dumps(x) + "\n" for x in out).encode()
            self.files["file-err"] = "".join(json.dumps(x) + "\n" for x in err).encode()
            batch.update(status="completed", output_file_id="file-out", error_file_id="file-err",
                         request_counts={"total": len(out) + len(err), "completed": len(out), "failed": len(err)})
        return {k: v for k, v in batch.items() if k != "retrievals"}


@pytest.fixture
def fake_api() -> Iterator[FakeBatchAPI]:
    api = FakeBatchAPI(polls=3)
    with serving(api.httpd):
        yield api


def batch_teacher(api: FakeBatchAPI, run_dir: Path, **kw: Any) -> OpenAIBatchTeacher:
    return OpenAIBatchTeacher("gpt-4.1", run_dir, base_url=api.base_url, poll_interval=0.0, timeout=10, **kw)


def test_submit_then_resume_then_collect_without_paying_twice(fake_api: FakeBatchAPI, tmp_path: Path) -> None:
    reqs = requests(3)
    with pytest.raises(BatchPendingError, match="Re-run later"):
        batch_teacher(fake_api, tmp_path, wait=False).complete(reqs)
    state = json.loads((tmp_path / "batch_state.json").read_text())
    [(digest, entry)] = state["batches"].items()
    input_text = batch_input_text(build_batch_lines(reqs, "gpt-4.1"))
    assert digest == hashlib.sha256(input_text.encode()).hexdigest()
    assert entry["batch_id"] == "batch_0" and entry["status"] == "in_progress" and entry["n_requests"] == 3
    assert fake_api.files["file-0"].decode() == input_text  # the uploaded bytes are the recorded file

    responses = batch_teacher(fake_api, tmp_path).complete(reqs)  # a new process: resumes, never resubmits
    assert (fake_api.hits["upload"], fake_api.hits["create"], fake_api.hits["retrieve"]) == (1, 1, 3)
    assert [json.loads(r.text)["q"] for r in (responses[0], responses[2])] == ["question 0", "question 2"]
    assert responses[0].ok and responses[2].ok and not responses[1].ok and "scripted failure" in responses[1].error
    before = sum(fake_api.hits.values())
    again = batch_teacher(fake_api, tmp_path).complete(reqs)  # finished and downloaded: no HTTP at all
    assert sum(fake_api.hits.values()) == before
    assert [r.to_record() for r in again] == [r.to_record() for r in responses]


def test_batch_behind_the_cache_submits_only_missing_requests(fake_api: FakeBatchAPI, tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.jsonl"
    cached = CachedTeacher(batch_teacher(fake_api, tmp_path / "run"), cache_path)  # one batch: its preferred chunk
    first = cached.complete(requests(3))
    assert cached.stats()["misses"] == 3 and cached.stats()["stored"] == 2  # the HTTP 400 is not cached
    assert fake_api.hits["create"] == 1
    again = CachedTeacher(batch_teacher(fake_api, tmp_path / "run"), cache_path)
    second = again.complete(requests(3)[::2])
    assert again.stats()["hits"] == 2 and fake_api.hits["create"] == 1
    assert [r.text for r in second] == [first[0].text, first[2].text] and all(r.cached for r in second)
