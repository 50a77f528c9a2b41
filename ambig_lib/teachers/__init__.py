"""Teacher backends behind one interface (``complete(requests) -> responses``), a response cache, a registry.

Backends: ``llamacpp`` (offline default), ``openai`` (any OpenAI-compatible endpoint), ``openai-batch``
(the Batch API) and ``vllm`` (optional extra, imported only when chosen).
"""

from ambig_lib.teachers.base import (
    ChatRequest,
    ChatResponse,
    Teacher,
    TeacherError,
    canonical_json,
    error_response,
)
from ambig_lib.teachers.cache import CachedTeacher, CacheFileError, CacheMissError, cache_key, load_cache_file
from ambig_lib.teachers.llamacpp import LlamaCppTeacher
from ambig_lib.teachers.openai_batch import (
    BatchPendingError,
    OpenAIBatchTeacher,
    batch_input_text,
    build_batch_lines,
    parse_batch_output,
)
from ambig_lib.teachers.openai_chat import OpenAIChatTeacher
from ambig_lib.teachers.openai_wire import SCHEMA_MODES, chat_body, parse_chat_completion
from ambig_lib.teachers.registry import (
    BACKENDS,
    DEFAULT_TEACHER,
    TEACHERS,
    TeacherSpec,
    build_teacher,
    default_sampling,
    get_teacher_spec,
    teacher_names,
)
from ambig_lib.teachers.vllm_engine import VLLMTeacher

__all__ = [
    "BACKENDS", "DEFAULT_TEACHER", "SCHEMA_MODES", "TEACHERS",
    "BatchPendingError", "CacheFileError", "CacheMissError", "CachedTeacher", "ChatRequest", "ChatResponse",
    "LlamaCppTeacher", "OpenAIBatchTeacher", "OpenAIChatTeacher", "Teacher", "TeacherError", "TeacherSpec",
    "VLLMTeacher",
    "batch_input_text", "build_batch_lines", "build_teacher", "cache_key", "canonical_json", "chat_body",
    "default_sampling", "error_response", "get_teacher_spec", "load_cache_file", "parse_batch_output",
    "parse_chat_completion", "teacher_names",
]
