"""Inspection statistics on small inputs whose answers are known, and the published length shortcut."""

from __future__ import annotations

import pandas as pd
import pytest

from ambig_lib.core import features
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.inspection import stats as inspection


def _frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["topic", "initial_request", "binary_label"])


def test_duplicates_and_unbalanced_topics() -> None:
    texts = ["What is X?", "What is X?", "what is x", "Other query"]
    assert inspection.duplicate_counts(texts) == (1, 2)
    frame = _frame([("A", f"s{i}", 0) for i in range(5)] + [("A", f"a{i}", 1) for i in range(5)]
                   + [("B", "s", 0), ("B", "a", 1)])
    assert inspection.topics_not_balanced(frame) == 1


def test_vocab_overlap() -> None:
    coverage, jaccard = inspection.vocab_overlap(["Book a flight"], ["book a hotel", "a flight"])
    assert coverage == pytest.approx(3 / 4)  # reference types: book, a, hotel, flight
    assert jaccard == pytest.approx(3 / 4)


def test_length_only_classifier_finds_a_pure_length_signal() -> None:
    short = [f"word{i} x" for i in range(20)]
    long = [f"word{i} x y z w v u t" for i in range(20)]
    texts, labels = short + long, [1] * 20 + [0] * 20
    assert inspection.cv_accuracy(features.length_only_classifier, texts, labels) == 1.0
    # equal in words and in characters: nothing for the length-only model, everything for TF-IDF
    same_length = [f"alpha{i} betaa" for i in range(20)] + [f"gamma{i} delta" for i in range(20)]
    assert features.length_features(same_length[:1]).tolist() == features.length_features(same_length[20:21]).tolist()
    assert inspection.cv_accuracy(features.length_only_classifier, same_length, labels) <= 0.6
    assert inspection.cv_accuracy(features.tfidf_classifier, same_length, labels) == 1.0


def test_published_gpt41_set_has_the_length_shortcut() -> None:
    frame = load_teacher_set("seed/gpt-4.1")
    row = inspection.inspect_teacher_set("seed/gpt-4.1", "GPT-4.1", frame, {"clariq": ["tell me about x"]})
    assert row["rows"] == 1000 and row["label0"] == 500 and row["n_topics"] == 100
    assert row["exact_duplicates"] == 3
    assert row["mean_words_ambiguous"] < row["mean_words_specific"] - 3
    assert row["length_only_cv_accuracy"] > 0.8


def test_type_balance_and_examples_of_a_pair_set() -> None:
    import pandas as pd

    from ambig_lib.inspection.stats import type_balance, type_examples

    frame = pd.DataFrame({"pair_id": ["a", "a", "b", "b", "c", "c"], "binary_label": [0, 1, 0, 1, 0, 1],
                          "initial_request": ["s1", "a1", "s2", "a2", "s3", "a3"],
                          "ambiguity_type": ["", "x", "", "x", "", "y"], "topic": ["t"] * 6})
    assert type_balance(frame) == {"n_types": 2, "type_balance": 0.5}
    examples = type_examples(frame, per_type=1)
    assert sorted(examples["type"]) == ["x", "y"]
    assert examples.set_index("type").loc["y"].tolist() == ["s3", "a3"]
    assert type_balance(frame.drop(columns="ambiguity_type"))["n_types"] == 0
