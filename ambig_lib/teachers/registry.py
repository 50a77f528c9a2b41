"""Named teachers: which model, which backends can run it, and its default sampling parameters.

The published study's six teachers (three open models on vLLM at temperature 1.0 / top_p 0.95, three OpenAI
models at temperature 1.0) and the local GGUF teachers. ``build_teacher(name, backend=None, **options)``
builds one; options override the registered backend options (``base_url=`` for a vLLM server, ...).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ambig_lib.teachers.base import Teacher, TeacherError
from ambig_lib.teachers.llamacpp import LlamaCppTeacher
from ambig_lib.teachers.openai_batch import OpenAIBatchTeacher
from ambig_lib.teachers.openai_chat import OpenAIChatTeacher

BACKENDS = ("llamacpp", "openai", "openai-batch", "vllm")


@dataclass(frozen=True)
class TeacherSpec:
    """A registered teacher.

    ``model`` is what the backend loads or names: a GGUF name of the model store, a hub id, or an OpenAI model.
    ``sampling`` holds the defaults for ``ChatRequest`` (temperature, top_p, max_tokens). ``options`` holds
    per-backend constructor defaults.
    """

    name: str
    model: str
    backend: str
    backends: tuple[str, ...]
    description: str
    sampling: dict[str, float | int]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: bool = False


def _spec(name: str, model: str, backend: str, backends: tuple[str, ...], description: str,
          temperature: float, top_p: float, max_tokens: int = 2048, published: bool = False,
          **options: dict[str, Any]) -> TeacherSpec:
    return TeacherSpec(name, model, backend, backends, description,
                       {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens},
                       dict(options), published)


_HF = ("vllm", "openai", "openai-batch")  # vLLM in-process, a vLLM server, or `vllm run-batch` style files
_OPENAI = ("openai", "openai-batch")
_GGUF = ("llamacpp", "openai")  # in-process, or llama.cpp's OpenAI-compatible server

TEACHERS: dict[str, TeacherSpec] = {
    s.name: s
    for s in [
        _spec("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "vllm", _HF,
              "Llama-3.1-8B-Instruct (published study)", 1.0, 0.95, published=True,
              vllm={"tensor_parallel_size": 1}),
        _spec("llama-3.3-70b-instruct-fp8", "nvidia/Llama-3.3-70B-Instruct-FP8", "vllm", _HF,
              "Llama-3.3-70B-Instruct, FP8 (published study; about 80 GB of GPU memory, 4 GPUs)", 1.0, 0.95,
              published=True, vllm={"tensor_parallel_size": 4}),
        _spec("gemma-3-27b-it", "google/gemma-3-27b-it", "vllm", _HF,
              "Gemma-3-27B-it (published study)", 1.0, 0.95, published=True,
              vllm={"tensor_parallel_size": 2}),
        _spec("gpt-4.1", "gpt-4.1", "openai", _OPENAI, "GPT-4.1 (published study)", 1.0, 1.0, published=True),
        _spec("gpt-4.1-mini", "gpt-4.1-mini", "openai", _OPENAI, "GPT-4.1-mini (published study)", 1.0, 1.0,
              published=True),
        _spec("gpt-4.1-nano", "gpt-4.1-nano", "openai", _OPENAI, "GPT-4.1-nano (published study)", 1.0, 1.0,
              published=True),
        _spec("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b", "llamacpp", _GGUF,
              "Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M: the offline default teacher", 0.7, 0.95,
              max_tokens=1024, llamacpp={"n_ctx": 4096}),
        _spec("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b", "llamacpp", _GGUF,
              "Qwen2.5-Coder-0.5B-Instruct GGUF Q4_K_M: small teacher for fast tests", 0.7, 0.95,
              max_tokens=1024, llamacpp={"n_ctx": 4096}),
    ]
}

DEFAULT_TEACHER = "qwen2.5-coder-1.5b"


def get_teacher_spec(name: str) -> TeacherSpec:
    """The registered spec of ``name``; a clear error listing the names otherwise."""
    try:
        return TEACHERS[name]
    except KeyError:
        raise TeacherError(f"Unknown teacher {name!r}. Registered: {', '.join(TEACHERS)}; or pass backend= "
                           "to use an unregistered model name with that backend.") from None


def teacher_names(published_only: bool = False) -> list[str]:
    return [n for n, s in TEACHERS.items() if s.published or not published_only]


def default_sampling(name: str) -> dict[str, float | int]:
    """Default ``ChatRequest`` sampling fields of a teacher (generic defaults for unregistered names)."""
    spec = TEACHERS.get(name)
    return dict(spec.sampling) if spec else {"temperature": 1.0, "top_p": 1.0, "max_tokens": 2048}


def build_teacher(name: str, backend: str | None = None, **options: Any) -> Teacher:
    """Build the teacher ``name`` on ``backend`` (its registered default when None).

    An unregistered ``name`` is accepted when ``backend`` is given: it is then the model name or path.
    ``openai-batch`` needs ``run_dir=``; a GGUF teacher on ``openai`` needs ``base_url=`` (llama.cpp server).
    """
    spec = TEACHERS.get(name)
    if spec is None and backend is None:
        get_teacher_spec(name)  # raises the "unknown teacher" error
    chosen = backend or (spec.backend if spec else "")
    if chosen not in BACKENDS:
        raise TeacherError(f"Unknown backend {chosen!r}; choose one of: {', '.join(BACKENDS)}.")
    if spec is not None and chosen not in spec.backends:
        raise TeacherError(f"Teacher {name!r} runs on {', '.join(spec.backends)}, not {chosen!r}.")
    model = spec.model if spec else name
    merged = {**(spec.options.get(chosen, {}) if spec else {}), **options}
    merged.setdefault("name", name)
    if chosen == "llamacpp":
        return LlamaCppTeacher(model=model, **_checked(LlamaCppTeacher, chosen, merged))
    if chosen == "vllm":
        from ambig_lib.teachers.vllm_engine import (
            VLLMTeacher,  # vLLM is an optional extra: imported only when chosen
        )

        return VLLMTeacher(model=model, **_checked(VLLMTeacher, chosen, merged))
    if spec is not None and "llamacpp" in spec.backends and "base_url" not in merged:
        raise TeacherError(f"{name!r} on {chosen!r} needs base_url= (a llama.cpp server serving the GGUF).")
    if chosen == "openai":
        return OpenAIChatTeacher(model=model, **_checked(OpenAIChatTeacher, chosen, merged))

    if "run_dir" not in merged:
        raise TeacherError("backend 'openai-batch' needs run_dir= (where batch ids and results are kept).")
    return OpenAIBatchTeacher(model=model, **_checked(OpenAIBatchTeacher, chosen, merged))


def backend_options(cls: type) -> list[str] | None:
    """Keyword options a backend class accepts (``model`` aside); None when it takes any (``**kwargs``)."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return [name for name, p in parameters.items() if name not in ("self", "model")
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def _checked(cls: type, backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options``, or a :class:`TeacherError` naming the ones backend ``backend`` does not take."""
    known = backend_options(cls)
    unknown = [] if known is None else sorted(set(options) - set(known))
    if unknown:
        raise TeacherError(f"--option {', '.join(unknown)}: not an option of backend {backend!r}. "
                           f"Fix: use one of {', '.join(sorted(known or []))}.")
    return options
