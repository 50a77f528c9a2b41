"""Metrics and bootstrap intervals checked against scikit-learn / SciPy on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap
from sklearn.metrics import f1_score, roc_auc_score

from ambig_lib.core.markdown import to_markdown
from ambig_lib.evaluation.metrics import (
    EvaluationError,
    binary_metrics,
    bootstrap_ci,
    evaluate_probabilities,
    macro_f1_resampled,
    roc_auc_resampled,
)

Y = np.array([1, 1, 1, 0, 0, 1, 0, 1])
P = np.array([0.9, 0.4, 0.7, 0.2, 0.6, 0.8, 0.1, 0.55])


def test_binary_metrics_hand_computed():
    m = binary_metrics(Y, P)
    # predictions 1,0,1,0,1,1,0,1 -> class 1: P=R=0.8; class 0: P=R=2/3
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["weighted_f1"] == pytest.approx((5 * 0.8 + 3 * 2 / 3) / 8)
    assert m["weighted_precision"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["predicted_ambiguous_rate"] == pytest.approx(5 / 8)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, P))
    assert m["roc_auc"] == pytest.approx(13 / 15)  # negative 0.6 outranks positives 0.4 and 0.55
    assert m["per_class"]["ambiguous"]["support"] == 5


def test_constant_classifier_matches_published_clariq_row():
    from ambig_lib.data.benchmarks import load_eval_set

    y = load_eval_set("clariq")["binary_label"].to_numpy()
    m = binary_metrics(y, np.ones(len(y)))
    assert (m["weighted_precision"], m["weighted_recall"], m["weighted_f1"], m["macro_f1"]) == pytest.approx(
        (0.768, 0.876, 0.818, 0.467), abs=6e-4)
    assert m["roc_auc"] == 0.5 and m["predicted_ambiguous_rate"] == 1.0


def test_resampled_metrics_equal_sklearn_per_resample():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.random(200), 1)  # many ties
    index = rng.integers(0, 200, size=(40, 200))
    pred = (score >= 0.5).astype(int)
    f1 = macro_f1_resampled(y, pred, index)
    auc = roc_auc_resampled(y, score, index)
    for b in range(40):
        assert f1[b] == pytest.approx(f1_score(y[index[b]], pred[index[b]], labels=[0, 1], average="macro",
                                               zero_division=0))
        assert auc[b] == pytest.approx(roc_auc_score(y[index[b]], score[index[b]]))


def test_bootstrap_matches_sklearn_loop_and_scipy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    prob = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    low, high = bootstrap_ci(y, prob, "roc_auc", n_resamples=1000, seed=7)
    # same indices, sklearn in a loop
    index = np.random.default_rng(7).integers(0, 300, size=(1000, 300))
    ref = [roc_auc_score(y[i], prob[i]) for i in index]
    assert (low, high) == pytest.approx(tuple(np.percentile(ref, [2.5, 97.5])))
    # independent resampler: scipy.stats.bootstrap, percentile method
    res = bootstrap((y, prob), lambda a, b: roc_auc_score(a, b), paired=True, vectorized=False,
                    n_resamples=1000, method="percentile", random_state=1)
    assert low == pytest.approx(res.confidence_interval.low, abs=0.02)
    assert high == pytest.approx(res.confidence_interval.high, abs=0.02)
    point = roc_auc_score(y, prob)
    assert low < point < high


def test_bootstrap_macro_f1_scipy_and_properties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 250)
    prob = np.where(rng.random(250) < 0.75, y, 1 - y) * 0.8 + 0.1
    low, high = bootstrap_ci(y, prob, "macro_f1", seed=0)
    res = bootstrap((y, (prob >= 0.5).astype(int)), lambda a, b: f1_score(a, b, average="macro"), paired=True,
                    vectorized=False, n_resamples=1000, method="percentile", random_state=0)
    assert low == pytest.approx(res.confidence_interval.low, abs=0.02)
    assert high == pytest.approx(res.confidence_interval.high, abs=0.02)
    assert bootstrap_ci(y, prob, "macro_f1", seed=0) == (low, high)  # seeded
    # perfect classifier: a degenerate interval at 1
    assert bootstrap_ci(y, y.astype(float), "macro_f1") == (1.0, 1.0)
    # two identical seeds give the single-seed interval
    assert bootstrap_ci(y, [prob, prob], "macro_f1", seed=0) == pytest.approx((low, high))


def test_evaluate_probabilities_seed_mean_and_std():
    row, per_class = evaluate_probabilities(Y, [P, 1 - P], n_resamples=200)
    a, b = binary_metrics(Y, P), binary_metrics(Y, 1 - P)
    assert row["macro_f1"] == pytest.approx((a["macro_f1"] + b["macro_f1"]) / 2)
    assert row["roc_auc_std"] == pytest.approx(np.std([a["roc_auc"], b["roc_auc"]], ddof=1))
    assert per_class["ambiguous"]["support"] == 5


@pytest.mark.parametrize("y, p", [([], []), ([0, 1], [0.5]), ([0, 2], [0.1, 0.9]), ([0, 1], [np.nan, 0.2])])
def test_bad_inputs_raise(y, p):
    with pytest.raises(EvaluationError):
        binary_metrics(y, p)


def test_unknown_bootstrap_metric():
    with pytest.raises(EvaluationError, match="Unknown metric"):
        bootstrap_ci(Y, P, "accuracy")


def test_markdown_rendering():
    import pandas as pd

    text = to_markdown(pd.DataFrame({"a": [0.12345, np.nan], "b": ["x|y", "z"]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 0.123 | x\\|y |", "|  | z |"]
