"""Teacher backends behind one interface (``complete(requests) -> responses``), a response cache, a registry.

Backends: ``llamacpp`` (offline default), ``openai`` (any OpenAI-compatible endpoint), ``openai-batch``
(the Batch API) and ``vllm`` (optional extra, imported only when chosen).
"""

from .base import ChatRequest, ChatResponse, Teacher, TeacherError, canonical_json, error_response
from .cache import CachedTeacher, CacheFileError, CacheMissError, cache_key, load_cache_file
from .llamacpp import LlamaCppTeacher
from .openai_batch import (
    BatchPendingError,
    OpenAIBatchTeacher,
    batch_input_text,
    build_batch_lines,
    parse_batch_output,
)
from .openai_chat import OpenAIChatTeacher
from .openai_wire import SCHEMA_MODES, chat_body, parse_chat_completion
from .registry import (
    BACKENDS,
    DEFAULT_TEACHER,
    TEACHERS,
    TeacherSpec,
    build_teacher,
    default_sampling,
    get_teacher_spec,
    teacher_names,
)
from .vllm_engine import VLLMTeacher

__all__ = [
    "BACKENDS", "DEFAULT_TEACHER", "SCHEMA_MODES", "TEACHERS",
    "BatchPendingError", "CacheFileError", "CacheMissError", "CachedTeacher", "ChatRequest", "ChatResponse",
    "LlamaCppTeacher", "OpenAIBatchTeacher", "OpenAIChatTeacher", "Teacher", "TeacherError", "TeacherSpec",
    "VLLMTeacher",
    "batch_input_text", "build_batch_lines", "build_teacher", "cache_key", "canonical_json", "chat_body",
    "default_sampling", "error_response", "get_teacher_spec", "load_cache_file", "parse_batch_output",
    "parse_chat_completion", "teacher_names",
]
