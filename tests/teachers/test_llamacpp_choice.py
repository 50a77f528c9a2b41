"""Choice scoring (one forward pass for an enum-only schema) against llama.cpp's grammar decoding, real 0.5B."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ambig_lib.compare import llm_direct
from ambig_lib.teachers.base import TeacherError
from ambig_lib.teachers.llamacpp import LlamaCppTeacher
from ambig_lib.teachers.llamacpp_choice import (
    EnumChoice,
    choice_tokens,
    enum_choice,
    log_softmax,
    top_logprobs,
)

QUERIES = ["what is the best laptop", "how tall is the eiffel tower in meters", "tell me about jaguars",
           "who won the 2018 world cup final"]


def test_enum_choice_accepts_only_one_required_string_enum() -> None:
    assert enum_choice(llm_direct.ANSWER_SCHEMA) == EnumChoice("ambiguous", ("yes", "no"))
    two_fields = {**llm_direct.ANSWER_SCHEMA, "properties": {"ambiguous": {"type": "string", "enum": ["yes", "no"]},
                                                             "why": {"type": "string"}}}
    assert enum_choice(two_fields) is None
    assert enum_choice({**llm_direct.ANSWER_SCHEMA, "required": []}) is None
    assert enum_choice({"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}, "required": ["a"]}
                       ) is None
    assert enum_choice(None) is None


def test_choice_tokens_and_top_logprobs() -> None:
    assert choice_tokens([[1, 2, 3, 9], [1, 2, 4, 9]]) == ([1, 2], [3, 4])
    assert choice_tokens([[1, 2], [1, 2, 3]]) is None  # one answer is a prefix of the other
    logprobs = log_softmax(np.array([0.0, 3.0, 1.0, -2.0]))
    assert math.isclose(np.exp(logprobs).sum(), 1.0)
    top = top_logprobs(logprobs, 2, always=[3], token_text=lambda i: f"t{i}")
    assert list(top) == ["t1", "t2", "t3"] and top["t3"] == pytest.approx(logprobs[3])


@pytest.fixture(scope="module")
def teachers() -> tuple[LlamaCppTeacher, LlamaCppTeacher]:
    return (LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=1024, progress=False),
            LlamaCppTeacher("qwen2.5-coder-0.5b", n_ctx=1024, progress=False, choice_decoding="logits"))


def test_choice_scoring_matches_grammar_decoding(teachers) -> None:
    grammar, choice = teachers
    assert "choice_decoding" not in grammar.identity()  # generation caches keep their keys
    assert choice.identity()["choice_decoding"] == "logits"
    same = 0
    for query in QUERIES:
        request = llm_direct.build_request(query, "zero_shot")
        slow, fast = grammar.complete([request])[0], choice.complete([request])[0]
        assert fast.ok and fast.extra["decoding"] == "choice_logits"
        answer = llm_direct.parse_answer(fast.text)
        assert answer is not None
        score = llm_direct.yes_score(fast.top_logprobs)
        assert (score > 0.5) == answer  # the score and the answer come from the same logits
        same += slow.text == fast.text
    assert same >= len(QUERIES) - 1  # greedy grammar decoding picks the same value (1.5B: 11 of 12 queries)


def test_choice_scoring_does_not_depend_on_call_order(teachers) -> None:
    _, choice = teachers
    first = choice.complete([llm_direct.build_request(QUERIES[0], "zero_shot")])[0]
    choice.complete([llm_direct.build_request(QUERIES[1], "zero_shot")])
    again = choice.complete([llm_direct.build_request(QUERIES[0], "zero_shot")])[0]
    assert first.top_logprobs == again.top_logprobs and first.text == again.text


def test_bad_choice_decoding_is_an_error() -> None:
    with pytest.raises(TeacherError, match="choice_decoding"):
        LlamaCppTeacher("qwen2.5-coder-0.5b", choice_decoding="fast")
