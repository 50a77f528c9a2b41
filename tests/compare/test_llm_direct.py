"""LLM-direct classification: prompts, strict parsing, the yes-score, unparseable accounting, the cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.compare.llm_direct import (
    ANSWER_SCHEMA,
    LLMDirectError,
    LLMDirectResult,
    build_messages,
    build_request,
    cached_teacher,
    classify,
    evaluation_row,
    few_shot_examples,
    parse_answer,
    yes_score,
)
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.evaluation.report import merge_rows


@pytest.mark.parametrize("text, expected", [
    ('{"ambiguous": "yes"}', True), ('{"ambiguous": "no"}', False), (' {"ambiguous": "YES"} ', True),
    ('{"ambiguous": "maybe"}', None), ('{"ambiguous": true}', None), ('{"ambiguous": "yes", "why": "x"}', None),
    ('{"answer": "yes"}', None), ("yes", None), ('{"ambiguous": "yes"', None), ("", None), ("[]", None),
])
def test_parse_answer_accepts_only_the_schema(text: str, expected: bool | None) -> None:
    assert parse_answer(text) is expected


def test_yes_score_pools_variants_at_the_answer_position() -> None:
    positions = [
        {'{"': -0.01, "{": -5.0},
        {"amb": -0.001},
        {' "': -0.1},
        {"yes": math.log(0.6), " yes": math.log(0.1), "no": math.log(0.2), "No": math.log(0.05)},
        {'"}': -0.01},
    ]
    assert yes_score(positions) == pytest.approx(0.7 / 0.95)
    assert math.isnan(yes_score(None)) and math.isnan(yes_score([{"{": 0.0}]))
    # only "no" listed: "yes" gets the smallest listed probability (an upper bound), the score stays in (0, 1)
    one_sided = yes_score([{"no": math.log(0.9), "x": math.log(0.01)}])
    assert one_sided == pytest.approx(0.01 / 0.91)
    # the first position of a JSON answer lists Yes / No far below '{"' (real 1.5B output): it is not the answer
    real = [{'{"': -0.03, "Yes": -6.96, "No": -7.98, "```": -3.75}, {"amb": -0.01},
            {"no": math.log(0.58), "yes": math.log(0.40), " yes": -6.8}]
    assert yes_score(real) == pytest.approx((0.40 + math.exp(-6.8)) / (0.98 + math.exp(-6.8)))


def test_few_shot_examples_are_balanced_seeded_and_not_from_eval_sets() -> None:
    examples = few_shot_examples(per_class=3, seed=0)
    assert [e.ambiguous for e in examples] == [True, False] * 3
    assert examples == few_shot_examples(per_class=3, seed=0)
    assert examples != few_shot_examples(per_class=3, seed=1)
    eval_queries = set(load_eval_set("clariq")["initial_request"]) | set(load_eval_set("ambignq")["initial_request"])
    assert not {e.query for e in examples} & eval_queries


def test_messages_and_request() -> None:
    examples = few_shot_examples(per_class=2)
    zero = build_messages("what is java")
    few = build_messages("what is java", "few_shot", examples)
    assert [m["role"] for m in zero] == ["system", "user"]
    assert [m["role"] for m in few] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert json.loads(few[2]["content"]) == {"ambiguous": "yes"}
    assert few[-1] == zero[-1] and "what is java" in zero[-1]["content"]
    request = build_request("what is java", logprobs=5)
    assert request.json_schema == ANSWER_SCHEMA and request.temperature == 0.0 and request.logprobs == 5
    with pytest.raises(LLMDirectError, match="needs examples"):
        build_messages("q", "few_shot")
    with pytest.raises(LLMDirectError, match="Unknown mode"):
        build_messages("q", "chain_of_thought")
    with pytest.raises(LLMDirectError, match="empty"):
        build_messages("   ")


def _result(answers: list[int | None], scores: list[float]) -> LLMDirectResult:
    frame = pd.DataFrame({"query": [f"q{i}" for i in range(len(answers))],
                          "answer": pd.array(answers, dtype="Int64"), "score": scores,
                          "text": "", "finish_reason": "stop", "error": None, "cached": False})
    return LLMDirectResult("t", "zero_shot", frame)


def test_unparseable_answers_are_counted_and_excluded_never_mapped() -> None:
    y = [1, 0, 1, 0, 1, 0]
    result = _result([1, 0, None, 1, 1, None], [0.9, 0.2, math.nan, 0.85, 0.8, math.nan])
    row = evaluation_row(result, y, "clariq", n_resamples=50)
    assert row["n_total"] == 6 and row["n_unparseable"] == 2 and row["n"] == 4
    assert row["coverage"] == pytest.approx(4 / 6)
    # parsed: y = [1, 0, 0, 1], answers = [1, 0, 1, 1] -> class 1 F1 = 0.8, class 0 F1 = 2/3
    assert row["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert row["roc_auc"] == pytest.approx(0.75)  # scores 0.9, 0.2, 0.85, 0.8 against [1, 0, 0, 1]: 3 of 4 pairs
    assert row["score"] == "yes_logprob" and row["method"] == "llm_direct_zero_shot"
    answer_only = evaluation_row(_result([1, 0, None, 1, 1, None], [math.nan] * 6), y, "clariq", n_resamples=50)
    assert answer_only["score"] == "answer_only"
    assert answer_only["macro_f1"] == pytest.approx(row["macro_f1"])
    with pytest.raises(LLMDirectError, match="labels"):
        evaluation_row(result, y[:3], "clariq")


def test_merge_replaces_only_matching_rows(tmp_path: Path) -> None:
    target = tmp_path / "evaluation.csv"
    pd.DataFrame([{"method": "finetuned", "student": "minilm", "dataset": "clariq", "macro_f1": 0.5},
                  {"method": "llm_direct_zero_shot", "student": "q", "dataset": "clariq", "macro_f1": 0.1}]
                 ).to_csv(target, index=False)
    new = pd.DataFrame([{"method": "llm_direct_zero_shot", "student": "q", "dataset": "clariq", "macro_f1": 0.4},
                        {"method": "llm_direct_zero_shot", "student": "q", "dataset": "ambignq", "macro_f1": 0.3}])
    merge_rows(new, target)
    merged = pd.read_csv(target)
    assert len(merged) == 3
    assert merged.set_index(["method", "dataset"]).loc[("llm_direct_zero_shot", "clariq"), "macro_f1"] == 0.4
    assert merged.set_index(["method", "dataset"]).loc[("finetuned", "clariq"), "macro_f1"] == 0.5


def test_real_small_teacher_answers_parse_and_rerun_is_free(tmp_path: Path) -> None:
    """qwen2.5-coder-0.5b through llama.cpp: constrained answers parse, scores exist, a re-run is all cached."""
    from ambig_lib.teachers.registry import build_teacher

    queries = ["Tell me about java", "In what year did the Berlin Wall fall?"]
    teacher = cached_teacher(build_teacher("qwen2.5-coder-0.5b", n_threads=2, progress=False),
                             tmp_path / "cache.jsonl")
    first = classify(teacher, queries, "zero_shot", logprobs=10)
    assert first.n_unparseable == 0 and first.n_cached == 0
    scores = first.frame["score"].to_numpy()
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    # greedy decoding under the grammar picks the likelier word, so score and answer agree
    assert ((scores >= 0.5) == (first.frame["answer"].to_numpy() == 1)).all()
    again = classify(cached_teacher(build_teacher("qwen2.5-coder-0.5b", progress=False), tmp_path / "cache.jsonl"),
                     queries, "zero_shot", logprobs=10)
    assert again.n_cached == 2
    pd.testing.assert_frame_equal(first.frame.drop(columns="cached"), again.frame.drop(columns="cached"))


def test_cli_classifies_resumes_from_the_cache_and_refuses_a_partial_merge(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The real 0.5B teacher on the first 3 ClariQ queries, then the same command offline from the cache."""
    from ambig_lib.cli.main import main as ambig

    def main(argv: list[str]) -> int:
        return ambig(["llm-direct", *argv])

    cache, answers = tmp_path / "cache.jsonl", tmp_path / "answers.tsv"
    common = ["--teacher", "qwen2.5-coder-0.5b", "--datasets", "clariq", "--modes", "zero_shot", "--limit", "3",
              "--cache", str(cache)]
    assert main([*common, "--answers-out", str(answers)]) == 0
    first = pd.read_csv(answers, sep="\t")
    assert len(first) == 3 and len(cache.read_text().splitlines()) == 3
    assert "llm_direct_zero_shot" in capsys.readouterr().out
    assert main([*common, "--offline", "--answers-out", str(answers)]) == 0
    again = pd.read_csv(answers, sep="\t")
    assert again["cached"].all()
    pd.testing.assert_frame_equal(first.drop(columns="cached"), again.drop(columns="cached"))
    assert main([*common, "--merge"]) == 2
    assert "--merge needs every query" in capsys.readouterr().err
