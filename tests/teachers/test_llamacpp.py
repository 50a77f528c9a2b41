"""LlamaCppTeacher with the real Qwen2.5-Coder-0.5B GGUF (small n_ctx, few tokens)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import jsonschema
import pytest

from ambig_lib.models.store import get_spec
from ambig_lib.teachers import ChatRequest, LlamaCppTeacher, TeacherError

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "country": {"type": "string", "minLength": 1},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def teacher() -> Iterator[LlamaCppTeacher]:
    yield LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=1024, progress=False)


def ask(content: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=({"role": "system", "content": "You answer in JSON."},
                                 {"role": "user", "content": content}), **kw)  # type: ignore[arg-type]


def test_json_schema_answer(teacher: LlamaCppTeacher) -> None:
    [response] = teacher.complete([ask("Name one European capital city and its country.", max_tokens=60,
                                       temperature=0.2, json_schema=SCHEMA)])
    assert response.ok, response
    jsonschema.validate(json.loads(response.text), SCHEMA)
    assert response.prompt_tokens > 10 and 0 < response.completion_tokens < 60
    assert teacher.completion_tokens >= response.completion_tokens and teacher.tokens_per_second > 0


def test_truncated_output_is_not_ok(teacher: LlamaCppTeacher) -> None:
    [response] = teacher.complete([ask("Write a long story about a lighthouse keeper.", max_tokens=3)])
    assert response.finish_reason == "length" and not response.ok and response.error is None
    assert response.completion_tokens == 3


def test_seeded_sampling_is_reproducible_and_sample_index_resamples(teacher: LlamaCppTeacher) -> None:
    base = ask("Invent a name for a cat.", max_tokens=12, temperature=1.0, seed=7)
    first, again = teacher.complete([base, base])
    assert first.text == again.text
    others = teacher.complete([ask("Invent a name for a cat.", max_tokens=12, temperature=1.0, seed=7,
                                   sample_index=i) for i in (1, 2, 3)])
    assert len({first.text, *[o.text for o in others]}) >= 2


def test_logprobs_for_yes_no_scoring() -> None:
    small = LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=256, progress=False)
    [response] = small.complete([ChatRequest(
        messages=({"role": "user", "content": "Is Paris the capital of France? Answer yes or no."},),
        max_tokens=1, temperature=0.0, logprobs=5)])
    assert small.logits_all  # loaded with the logits that logprobs need
    assert response.top_logprobs is not None and len(response.top_logprobs) == 1
    top = response.top_logprobs[0]
    assert 1 <= len(top) <= 6 and all(v <= 0.0 for v in top.values())
    assert math.isclose(max(top.values()), top[max(top, key=top.__getitem__)])
    assert any(t.strip().lower() == "yes" for t in top)


def test_prompt_longer_than_the_context_is_an_error_response(teacher: LlamaCppTeacher) -> None:
    [response] = teacher.complete([ask("word " * 1100, max_tokens=4)])
    assert response.error is not None and "exceed context window" in response.error
    assert not response.ok and response.finish_reason == "error"


def test_identity_uses_the_registered_sha_and_bad_names_fail() -> None:
    identity = LlamaCppTeacher("qwen2.5-coder-0.5b").identity()
    assert identity["backend"] == "llamacpp" and identity["sha256"] == get_spec("qwen2.5-coder-0.5b").sha256
    with pytest.raises(TeacherError, match="neither a registered GGUF model"):
        LlamaCppTeacher("no-such-model")


LONG_SYSTEM = ("You are a helpful assistant that invents short, friendly names for pets. Each answer is one name "
               "only, with no explanation, no punctuation and no quotes. Names are easy to pronounce and kind.")


def pet(kind: str) -> ChatRequest:
    return ChatRequest(messages=({"role": "system", "content": LONG_SYSTEM},
                                 {"role": "user", "content": f"A name for my {kind}, please."}),
                       max_tokens=8, temperature=1.0, seed=3)


def test_anchored_prompt_evaluation_does_not_depend_on_call_order() -> None:
    requests = [pet("cat"), pet("dog"), pet("goldfish")]
    one = LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=512, progress=False)
    forward = [r.text for r in one.complete(requests)]
    assert one.anchor_evaluations == 1  # the shared system prompt was evaluated once for three requests
    other = LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=512, progress=False)
    backward = [r.text for r in other.complete(requests[::-1])]
    assert backward[::-1] == forward and all(forward)
    llama = one._llama
    anchor = one.anchor_tokens(llama, requests[0].messages)
    full = one._prompt_tokens(llama, requests[0].messages)
    assert 32 <= len(anchor) < len(full) and full[:len(anchor)] == anchor
    assert "cat" not in llama.detokenize(anchor).decode() and "cat" in llama.detokenize(full).decode()
    assert one.identity()["prompt_eval"] == "anchored"
    with pytest.raises(TeacherError, match="prompt_reuse"):
        LlamaCppTeacher("qwen2.5-coder-0.5b", prompt_reuse="sometimes")


def test_repetition_loop_is_stopped_early_and_is_a_failure(teacher: LlamaCppTeacher) -> None:
    loop = ask("Write the word 'desire' 300 times, separated by commas. Nothing else.", max_tokens=300,
               temperature=0.0)
    [response] = teacher.complete([loop])
    assert response.finish_reason == "repetition" and not response.ok, response
    assert teacher.guard.window - 1 <= response.completion_tokens < teacher.guard.window + 20  # not 300
    assert response.text.count("desire") > 10
    [normal] = teacher.complete([ask("Name one European capital city and its country.", max_tokens=60,
                                     temperature=0.2, json_schema=SCHEMA)])
    assert normal.ok and not teacher.guard.fired  # the guard is reset for every request


def test_repetition_guard_counts_only_generated_tokens() -> None:
    from ambig_lib.teachers.llamacpp import RepetitionGuard

    guard = RepetitionGuard(window=8, max_distinct=2)
    seq = [5] * 50  # a repetitive prompt must not trigger it: only generated tokens count
    fired_at = None
    for step, token in enumerate([1, 2, 3, 4, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]):
        seq.append(token)
        if guard(seq, None):
            fired_at = step
            break
    assert fired_at == 11 and guard.fired  # the first 8-token window with <= 2 distinct ids: steps 4..11
