"""The offline vLLM engine (GPU; optional extra ``pip install 'ambig_lib[vllm]'``).

``vllm`` is imported only when a :class:`VLLMTeacher` is first used. JSON schemas go through structured
outputs: ``SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))`` (vLLM >= 0.10.2), or
``SamplingParams(guided_decoding=GuidedDecodingParams(json=schema))`` on older releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ambig_lib.teachers.base import ALL_AT_ONCE, ChatRequest, ChatResponse, TeacherError
from ambig_lib.teachers.openai_wire import finite_logprob


def import_vllm() -> Any:
    """The ``vllm`` module, or a clear error saying how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise TeacherError(
            f"The vllm backend needs the optional 'vllm' package ({exc}). Fix: pip install -e '.[vllm]' on a "
            "machine with a supported GPU, or use backend='openai' against a running vLLM server."
        ) from None
    return vllm


def sampling_params(vllm: Any, request: ChatRequest) -> Any:
    """vLLM ``SamplingParams`` for ``request`` (structured outputs when it carries a JSON schema)."""
    kwargs: dict[str, Any] = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "seed": request.effective_seed(),
    }
    if request.logprobs:
        kwargs["logprobs"] = request.logprobs
    if request.json_schema is not None:
        module = vllm.sampling_params
        if hasattr(module, "StructuredOutputsParams"):
            kwargs["structured_outputs"] = module.StructuredOutputsParams(json=request.json_schema)
        else:
            kwargs["guided_decoding"] = module.GuidedDecodingParams(json=request.json_schema)
    return vllm.SamplingParams(**kwargs)


def _logprobs(completion: Any) -> list[dict[str, float]] | None:
    steps = getattr(completion, "logprobs", None)
    if not steps:
        return None
    return [{(lp.decoded_token or str(tid)): finite_logprob(lp.logprob) for tid, lp in step.items()} for step in steps]


class VLLMTeacher:
    """A Hugging Face model run in-process by vLLM (``LLM(model, tensor_parallel_size=...)``).

    ``revision`` pins the hub revision (part of the identity). Extra ``engine_kwargs`` go to ``vllm.LLM``
    (for example ``max_model_len``, ``gpu_memory_utilization``, ``quantization``).
    """

    def __init__(self, model: str, tensor_parallel_size: int = 1, revision: str | None = None,
                 dtype: str = "auto", seed: int = 0, name: str | None = None, **engine_kwargs: Any) -> None:
        if tensor_parallel_size < 1:
            raise TeacherError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        self.model = model
        self.name = name or model.split("/")[-1]
        self.tensor_parallel_size = tensor_parallel_size
        self.revision = revision
        self.dtype = dtype
        self.seed = seed
        self.engine_kwargs = engine_kwargs
        self._llm: Any = None
        self._vllm: Any = None

    preferred_chunk_size = ALL_AT_ONCE  # vLLM schedules a large batch best

    def identity(self) -> dict[str, Any]:
        return {"backend": "vllm", "model": self.model, "revision": self.revision}

    def _engine(self) -> Any:
        if self._llm is None:
            self._vllm = import_vllm()
            self._llm = self._vllm.LLM(model=self.model, revision=self.revision, dtype=self.dtype,
                                       tensor_parallel_size=self.tensor_parallel_size, seed=self.seed,
                                       **self.engine_kwargs)
        return self._llm

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """All requests in one batched ``LLM.chat`` call (vLLM schedules them itself)."""
        if not requests:
            return []
        llm = self._engine()
        conversations = [[dict(m) for m in r.messages] for r in requests]
        params = [sampling_params(self._vllm, r) for r in requests]
        outputs = llm.chat(conversations, sampling_params=params, use_tqdm=True)
        responses = []
        for out in outputs:
            completion = out.outputs[0]
            responses.append(ChatResponse(
                text=completion.text,
                finish_reason=completion.finish_reason or "unknown",
                prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(completion.token_ids or []),
                top_logprobs=_logprobs(completion),
            ))
        return responses
