"""The teacher registry, build_teacher, and the vLLM backend's lazy import."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path
from typing import Any

import pytest

from ambig_lib.models.store import get_spec
from ambig_lib.teachers import (
    TEACHERS,
    ChatRequest,
    LlamaCppTeacher,
    OpenAIBatchTeacher,
    OpenAIChatTeacher,
    Teacher,
    TeacherError,
    VLLMTeacher,
    build_teacher,
    default_sampling,
    teacher_names,
)
from ambig_lib.teachers.vllm_engine import sampling_params


def test_the_published_six_with_their_sampling_settings() -> None:
    published = {n: (TEACHERS[n].model, TEACHERS[n].backend, TEACHERS[n].sampling["temperature"],
                     TEACHERS[n].sampling["top_p"]) for n in teacher_names(published_only=True)}
    assert published == {
        "llama-3.1-8b-instruct": ("meta-llama/Llama-3.1-8B-Instruct", "vllm", 1.0, 0.95),
        "llama-3.3-70b-instruct-fp8": ("nvidia/Llama-3.3-70B-Instruct-FP8", "vllm", 1.0, 0.95),
        "gemma-3-27b-it": ("google/gemma-3-27b-it", "vllm", 1.0, 0.95),
        "gpt-4.1": ("gpt-4.1", "openai", 1.0, 1.0),
        "gpt-4.1-mini": ("gpt-4.1-mini", "openai", 1.0, 1.0),
        "gpt-4.1-nano": ("gpt-4.1-nano", "openai", 1.0, 1.0),
    }
    assert set(teacher_names()) - set(published) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"}
    assert default_sampling("gemma-3-27b-it") == {"temperature": 1.0, "top_p": 0.95, "max_tokens": 2048}


def test_gguf_teacher_builds_lazily_with_the_registered_sha() -> None:
    teacher = build_teacher("qwen2.5-coder-1.5b", n_ctx=1024)
    assert isinstance(teacher, LlamaCppTeacher) and isinstance(teacher, Teacher)
    assert teacher.n_ctx == 1024 and teacher._llama is None  # nothing loaded until a request needs it
    identity = teacher.identity()
    assert identity["sha256"] == get_spec("qwen2.5-coder-1.5b").sha256
    assert identity["revision"] == "f86cb2c1fa58255f8052cc32aeede1b7482d4361"


def test_openai_backends(tmp_path: Path) -> None:
    live = build_teacher("gpt-4.1-mini", base_url="http://127.0.0.1:9/v1")
    assert isinstance(live, OpenAIChatTeacher) and live.model == "gpt-4.1-mini"
    batch = build_teacher("gpt-4.1", backend="openai-batch", run_dir=tmp_path, base_url="http://127.0.0.1:9/v1")
    assert isinstance(batch, OpenAIBatchTeacher) and batch.identity() == build_teacher(
        "gpt-4.1", base_url="http://127.0.0.1:9/v1").identity()
    server = build_teacher("llama-3.1-8b-instruct", backend="openai", base_url="http://127.0.0.1:9/v1")
    assert isinstance(server, OpenAIChatTeacher) and server.model == "meta-llama/Llama-3.1-8B-Instruct"
    custom = build_teacher("my-model", backend="openai", base_url="http://127.0.0.1:9/v1")
    assert custom.identity()["model"] == "my-model"


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("nope",), {}, "Unknown teacher 'nope'"),
    (("gpt-4.1",), {"backend": "vllm"}, "runs on openai, openai-batch, not 'vllm'"),
    (("gpt-4.1",), {"backend": "carrier-pigeon"}, "Unknown backend"),
    (("gpt-4.1",), {"backend": "openai-batch"}, "needs run_dir="),
    (("qwen2.5-coder-0.5b",), {"backend": "openai"}, "needs base_url="),
    (("minilm",), {"backend": "llamacpp"}, "not a GGUF model"),
])
def test_bad_choices_are_clear_errors(args: tuple[str, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TeacherError, match=message):
        build_teacher(*args, **kwargs)


def test_vllm_teacher_explains_a_missing_extra() -> None:
    teacher = build_teacher("llama-3.3-70b-instruct-fp8")
    assert isinstance(teacher, VLLMTeacher) and teacher.tensor_parallel_size == 4
    assert teacher.identity() == {"backend": "vllm", "model": "nvidia/Llama-3.3-70B-Instruct-FP8", "revision": None}
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; the missing-extra error cannot be shown")
    with pytest.raises(TeacherError, match=r"pip install -e '\.\[vllm\]'"):
        teacher.complete([ChatRequest(messages=({"role": "user", "content": "hi"},))])


def test_vllm_sampling_params_use_structured_outputs_or_guided_decoding() -> None:
    """vLLM cannot be installed here (no GPU): stand-in modules record what our code passes to vLLM's classes."""

    def fake_vllm(with_structured_outputs: bool) -> Any:
        record = lambda **kw: kw  # noqa: E731
        module = types.SimpleNamespace(**({"StructuredOutputsParams": record} if with_structured_outputs
                                          else {"GuidedDecodingParams": record}))
        return types.SimpleNamespace(sampling_params=module, SamplingParams=record)

    schema = {"type": "object"}
    request = ChatRequest(messages=({"role": "user", "content": "x"},), temperature=1.0, top_p=0.95,
                          max_tokens=9, seed=0, sample_index=1, json_schema=schema, logprobs=5)
    new = sampling_params(fake_vllm(True), request)
    assert new == {"temperature": 1.0, "top_p": 0.95, "max_tokens": 9, "seed": 1_000_003, "logprobs": 5,
                   "structured_outputs": {"json": schema}}
    old = sampling_params(fake_vllm(False), request)
    assert old["guided_decoding"] == {"json": schema} and "structured_outputs" not in old
