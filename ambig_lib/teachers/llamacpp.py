"""The offline default teacher: ``llama-cpp-python`` running a GGUF from the model store.

A JSON schema is enforced with llama.cpp's grammar (``response_format={"type": "json_object", "schema": ...}``).
The model is loaded on the first call that needs it, so a fully cached run never touches the GGUF.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ambig_lib.core.cpu import free_cores
from ambig_lib.core.io import sha256_file
from ambig_lib.models.store import MODELS, resolve_model
from ambig_lib.teachers.base import ChatRequest, ChatResponse, TeacherError, error_response
from ambig_lib.teachers.llamacpp_choice import CHOICE_DECODING_MODES, choice_tokens, choose, enum_choice
from ambig_lib.teachers.openai_wire import parse_chat_completion

PROMPT_REUSE_MODES: tuple[str, ...] = ("anchored", "none")
REPETITION_FINISH = "repetition"  # finish_reason of an answer stopped by the RepetitionGuard
_PLACEHOLDER = "\u2063"  # an invisible separator: no real prompt's last message starts with it
_MIN_ANCHOR_TOKENS = 32


def auto_threads() -> int:
    """Threads for llama.cpp: ``$AMBIG_LLAMA_THREADS``, else the free cores (see :func:`ambig_lib.core.cpu.free_cores`)."""
    return free_cores("AMBIG_LLAMA_THREADS")


class RepetitionGuard:
    """Stops a generation caught in a loop: its last ``window`` tokens hold at most ``max_distinct`` distinct ids.

    A small teacher sometimes repeats a phrase until ``max_tokens`` ("desire, attraction, desire, ...");
    without a guard each such answer costs the whole token budget (minutes on a CPU) and is rejected anyway.
    Real answers (JSON with several fields of prose) are far more varied, so the guard only cuts answers that
    would fail; it is therefore not part of the cache key. ``window=0`` disables it.
    """

    def __init__(self, window: int = 96, max_distinct: int = 12) -> None:
        self.window = window
        self.max_distinct = max_distinct
        self.start: int | None = None
        self.fired = False

    def reset(self) -> None:
        """Forget the previous generation (called once per request)."""
        self.start = None
        self.fired = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:  # noqa: ARG002 - llama.cpp's StoppingCriteria
        if self.start is None:
            self.start = len(input_ids) - 1  # first call: the prompt plus one sampled token
        if self.window <= 0 or len(input_ids) - self.start < self.window:
            return False
        if len(set(int(t) for t in input_ids[-self.window:])) <= self.max_distinct:
            self.fired = True
        return self.fired


class _GuardedFormatter:
    """The GGUF's chat formatter with the repetition guard appended to its stopping criteria."""

    def __init__(self, inner: Any, guard: RepetitionGuard) -> None:
        self.inner = inner
        self.guard = guard

    def __call__(self, **kwargs: Any) -> Any:
        from llama_cpp import StoppingCriteriaList

        result = self.inner(**kwargs)
        self.guard.reset()
        result.stopping_criteria = StoppingCriteriaList([*(result.stopping_criteria or []), self.guard])
        return result


class LlamaCppTeacher:
    """A GGUF teacher on the CPU (or whatever llama.cpp was built for).

    ``model`` is a registered GGUF name (``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``) or a ``.gguf`` path.
    ``n_threads=None`` picks :func:`auto_threads` when the model loads.
    ``top_k``, ``min_p`` and ``repeat_penalty`` are llama.cpp sampler settings beyond the request's
    temperature / top_p; they are part of the identity. Counters ``prompt_tokens``, ``completion_tokens`` and
    ``generation_seconds`` accumulate over uncached calls (tokens per second = completion / seconds).

    ``prompt_reuse`` decides how much of a prompt is evaluated per call (prompt evaluation is compute-bound on
    a CPU: about 23 tokens/s for the 1.5B on 2 cores, half of a generation call's time):

    - ``"anchored"`` (default): the *anchor* of a request, the tokens its prompt shares with the same chat
      whose last message is replaced by a placeholder (system prompt, worked examples), is evaluated once from
      an empty context and kept; each call truncates the KV cache back to the anchor and evaluates only its
      own tail. The anchor depends on the request alone, and it is always evaluated the same way, so an answer
      never depends on which request came before it: a resumed run matches an uninterrupted one.
    - ``"none"``: every prompt from scratch. llama.cpp's own free prefix reuse is never used: it evaluates
      the tail in whatever batch shape the previous request left, which changes logits in the last bits and
      so can change a sampled answer.

    ``repetition_window`` / ``repetition_max_distinct`` configure the :class:`RepetitionGuard` (an answer it
    stops comes back with ``finish_reason="repetition"``, a failure like ``"length"``).
    """

    def __init__(self, model: str = "qwen2.5-coder-1.5b", n_ctx: int = 4096, n_threads: int | None = None,
                 seed: int = 0, n_batch: int = 512, top_k: int = 40, min_p: float = 0.05,
                 repeat_penalty: float = 1.0, logits_all: bool = False, prompt_reuse: str = "anchored",
                 name: str | None = None, progress: bool = True, verbose: bool = False,
                 repetition_window: int = 96, repetition_max_distinct: int = 12,
                 choice_decoding: str = "grammar") -> None:
        spec = MODELS.get(model)
        if spec is not None and not spec.is_gguf:
            raise TeacherError(f"{model!r} is not a GGUF model; llamacpp needs one of: "
                               + ", ".join(n for n, s in MODELS.items() if s.is_gguf))
        if spec is None and not (Path(model).expanduser().is_file() and model.endswith(".gguf")):
            raise TeacherError(f"{model!r} is neither a registered GGUF model ("
                               + ", ".join(n for n, s in MODELS.items() if s.is_gguf) + ") nor a .gguf file.")
        self.model = model
        self.name = name or (spec.name if spec else Path(model).stem)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.n_batch = n_batch
        self.top_k = top_k
        self.min_p = min_p
        self.repeat_penalty = repeat_penalty
        self.logits_all = logits_all
        if prompt_reuse not in PROMPT_REUSE_MODES:
            raise TeacherError(f"prompt_reuse={prompt_reuse!r}; choose one of {', '.join(PROMPT_REUSE_MODES)}.")
        self.prompt_reuse = prompt_reuse
        if choice_decoding not in CHOICE_DECODING_MODES:
            raise TeacherError(f"choice_decoding={choice_decoding!r}; choose one of {', '.join(CHOICE_DECODING_MODES)}.")
        self.choice_decoding = choice_decoding
        self.progress = progress
        self.verbose = verbose
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.generation_seconds = 0.0
        self._spec = spec
        self._sha256: str | None = spec.sha256 if spec else None
        self._llama: Any = None
        self._formatter: Any = None
        self._anchor_len = 0
        self.anchor_evaluations = 0  # how often an anchor was evaluated from an empty context
        self._lock = threading.Lock()
        self.guard = RepetitionGuard(repetition_window, repetition_max_distinct)

    def identity(self) -> dict[str, Any]:
        """Backend, model, GGUF SHA-256 (from the registry; hashed once for a bare path) and sampler."""
        if self._sha256 is None:
            self._sha256 = sha256_file(Path(self.model).expanduser())
        return {
            "backend": "llamacpp",
            "model": self._spec.name if self._spec else Path(self.model).name,
            "sha256": self._sha256,
            "revision": self._spec.hub_revision if self._spec else None,
            "sampler": {"top_k": self.top_k, "min_p": self.min_p, "repeat_penalty": self.repeat_penalty},
            "prompt_eval": self.prompt_reuse,
            # only when not the default, so the keys of every other cached answer stay as they were
            **({"choice_decoding": self.choice_decoding} if self.choice_decoding != "grammar" else {}),
        }

    preferred_chunk_size = 1  # one sequence at a time: record each answer as soon as it exists

    @property
    def tokens_per_second(self) -> float:
        """Completion tokens per second of generation so far (0 before any call)."""
        return self.completion_tokens / self.generation_seconds if self.generation_seconds else 0.0

    def _load(self, need_logits: bool) -> Any:
        if self._llama is not None and (not need_logits or self.logits_all):
            return self._llama
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise TeacherError(f"llama-cpp-python is not installed ({exc}). Fix: pip install -e '.[dev]'") from None
        self.logits_all = self.logits_all or need_logits
        path = resolve_model(self.model)
        if self.n_threads is None:
            self.n_threads = auto_threads()
        self._llama = None  # free a previous instance before loading a second copy
        self._formatter = None
        self._anchor_len = 0
        self._llama = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                            n_threads_batch=self.n_threads, n_batch=self.n_batch, seed=self.seed,
                            logits_all=self.logits_all, verbose=self.verbose)
        formatter = self._chat_formatter(self._llama)
        if formatter is not None and self._llama.chat_format == "chat_template.default" and self.guard.window > 0:
            from llama_cpp import llama_chat_format

            self._llama.chat_handler = llama_chat_format.chat_formatter_to_chat_completion_handler(
                _GuardedFormatter(formatter, self.guard))
        return self._llama

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer the requests one after another (llama.cpp runs one sequence at a time here)."""
        bar = tqdm(requests, desc=self.name, disable=not self.progress or len(requests) < 2, leave=False)
        return [self.complete_one(r) for r in bar]

    def complete_one(self, request: ChatRequest) -> ChatResponse:
        """One chat completion; errors from llama.cpp (prompt too long, ...) come back as error responses."""
        kwargs: dict[str, Any] = {
            "messages": [dict(m) for m in request.messages],
            "temperature": request.temperature,
            "top_p": request.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
            "max_tokens": request.max_tokens,
            "seed": request.effective_seed(),
        }
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if request.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = request.logprobs
        choice = enum_choice(request.json_schema) if self.choice_decoding == "logits" else None
        if choice is not None and request.temperature == 0.0:
            with self._lock:
                response = self._complete_choice(self._load(need_logits=False), request, choice)
            if response is not None:
                return response
        with self._lock:
            llama = self._load(need_logits=bool(request.logprobs))
            if self.prompt_reuse == "anchored":
                self._restore_anchor(llama, request.messages)
            else:
                llama.reset()
            started = time.perf_counter()
            try:
                result = llama.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:
                return error_response(f"{self.name}: {exc.__class__.__name__}: {exc}")
            elapsed = time.perf_counter() - started
        response = parse_chat_completion(result)
        if self.guard.fired:
            response.finish_reason = REPETITION_FINISH
        response.extra.pop("model", None)  # llama-cpp-python reports the file path: machine-specific
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        self.generation_seconds += elapsed
        return response

    def _complete_choice(self, llama: Any, request: ChatRequest, choice: Any) -> ChatResponse | None:
        """One forward pass for an enum-only schema (see :mod:`.llamacpp_choice`); None: use the grammar path."""
        import numpy as np

        prompt = self._prompt_tokens(llama, request.messages)
        answers = [llama.tokenize(choice.answer(v).encode("utf-8"), add_bos=False, special=False)
                   for v in choice.values]
        split = choice_tokens(answers)
        if not prompt or split is None:
            return None
        shared, firsts = split
        started = time.perf_counter()
        if self.prompt_reuse == "anchored":
            self._restore_anchor(llama, request.messages)
        else:
            llama.reset()
        n = llama.n_tokens
        if list(llama.input_ids[:n]) != prompt[:n]:
            llama.reset()
            self._anchor_len = 0
            n = 0
        try:
            llama.eval(prompt[n:] + shared)
        except (ValueError, RuntimeError) as exc:
            return error_response(f"{self.name}: {exc.__class__.__name__}: {exc}")
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()
        response = choose(choice, logits, firsts, answers, len(prompt), request.logprobs,
                          lambda i: llama.detokenize([i]).decode("utf-8", errors="replace"))
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        self.generation_seconds += time.perf_counter() - started
        return response

    # ------------------------------------------------------------------ anchored prompt evaluation

    def _chat_formatter(self, llama: Any) -> Any:
        """The formatter llama-cpp-python builds from the GGUF's chat template (None without one)."""
        if self._formatter is None:
            from llama_cpp import llama_chat_format

            template = llama.metadata.get("tokenizer.chat_template")
            if template is None:
                return None
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
        return self._formatter

    def _prompt_tokens(self, llama: Any, messages: Sequence[dict[str, str]]) -> list[int]:
        """The prompt tokens ``create_chat_completion`` evaluates for ``messages`` (the GGUF's chat template)."""
        formatter = self._chat_formatter(llama)
        if formatter is None:
            return []
        result = formatter(messages=[dict(m) for m in messages])
        return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def anchor_tokens(self, llama: Any, messages: Sequence[dict[str, str]]) -> list[int]:
        """The tokens shared by ``messages`` and the same chat with its last message replaced by a placeholder."""
        if len(messages) < 2:
            return []
        full = self._prompt_tokens(llama, messages)
        other = [dict(m) for m in messages]
        other[-1]["content"] = _PLACEHOLDER
        anchor = full[:llama.longest_token_prefix(full, self._prompt_tokens(llama, other))]
        return anchor if len(anchor) >= _MIN_ANCHOR_TOKENS else []

    def _restore_anchor(self, llama: Any, messages: Sequence[dict[str, str]]) -> None:
        """Leave exactly the request's anchor in the KV cache, evaluated from an empty context."""
        anchor = self.anchor_tokens(llama, messages)
        n = len(anchor)
        if n and llama.n_tokens >= n and list(llama.input_ids[:n]) == anchor and self._anchor_len == n:
            if llama.n_tokens > n:
                llama._ctx.kv_cache_seq_rm(-1, n, -1)
                llama.n_tokens = n
            return
        llama.reset()
        self._anchor_len = 0
        if n:
            llama.eval(anchor)
            self._anchor_len = n
            self.anchor_evaluations += 1
