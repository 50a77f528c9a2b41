"""The training loss applies both class weights and label smoothing; early stopping honours patience."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

from ambig_lib.training.finetune import (
    BestWeightsCallback,
    TrainingError,
    class_weights_for,
    stratified_subsample,
    validate_training_data,
    weighted_smoothed_ce,
)


def manual_loss(logits: torch.Tensor, labels: torch.Tensor, w: torch.Tensor, eps: float) -> float:
    """Weighted, smoothed cross-entropy written out: sum_i w_{y_i} [(1-eps) nll_i + eps/K sum_c w_c/w_{y_i} nll_ic]
    / sum_i w_{y_i} (PyTorch's definition)."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    k = logits.shape[1]
    num = 0.0
    for i, y in enumerate(labels.tolist()):
        num += (1 - eps) * w[y] * -logp[i, y] + eps / k * sum(w[c] * -logp[i, c] for c in range(k))
    return float(num / sum(w[y] for y in labels.tolist()))


def test_loss_matches_the_written_out_formula():
    logits = torch.tensor([[2.0, -1.0], [0.3, 0.1], [-0.5, 1.5], [1.0, 1.2]])
    labels = torch.tensor([0, 1, 1, 1])
    w = torch.tensor([2.0, 2 / 3])
    got = float(weighted_smoothed_ce(logits, labels, w, 0.1))
    assert got == pytest.approx(manual_loss(logits, labels, w, 0.1), rel=1e-6)
    plain = float(torch.nn.functional.cross_entropy(logits, labels))
    only_w = float(weighted_smoothed_ce(logits, labels, w, 0.0))
    only_s = float(weighted_smoothed_ce(logits, labels, None, 0.1))
    assert len({round(v, 6) for v in (got, plain, only_w, only_s)}) == 4  # each ingredient changes the loss
    assert only_s == pytest.approx(manual_loss(logits, labels, torch.ones(2), 0.1), rel=1e-6)


def test_class_weights_balanced():
    assert class_weights_for([0, 0, 0, 1]) == pytest.approx([4 / 6, 2.0])
    assert class_weights_for([0, 1], "none") == pytest.approx([1.0, 1.0])
    with pytest.raises(TrainingError):
        class_weights_for([0, 1], "inverse")


def test_validate_training_data_errors():
    with pytest.raises(TrainingError, match="empty"):
        validate_training_data([], [], 5)
    with pytest.raises(TrainingError, match="single class"):
        validate_training_data(["a", "b", "c"], [1, 1, 1], 2)
    with pytest.raises(TrainingError, match="at least 5 rows per class"):
        validate_training_data(["a", "b", "c", "d"], [0, 1, 0, 1], 5)
    with pytest.raises(TrainingError, match="0 \\(clear\\) or 1"):
        validate_training_data(["a", "b"], [0, 3], 1)


def test_stratified_subsample_keeps_proportions():
    import pandas as pd

    frame = pd.DataFrame({"initial_request": [f"q{i}" for i in range(100)], "binary_label": [1] * 70 + [0] * 30})
    sub = stratified_subsample(frame, 20, seed=0)
    assert len(sub) == 20 and sub["binary_label"].sum() == 14
    assert sub.equals(stratified_subsample(frame, 20, seed=0))
    assert len(stratified_subsample(frame, None, 0)) == 100


def test_best_weights_callback_patience_and_ties(tmp_path):
    model = torch.nn.Linear(2, 2)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    callback = BestWeightsCallback("macro_f1", patience=3)
    state, control = TrainerState(), TrainerControl()
    stopped_at = None
    for epoch, value in enumerate([0.5, 0.9, 0.9, 0.8, 0.85, 0.95], start=1):
        state.epoch = float(epoch)
        with torch.no_grad():
            model.weight.fill_(epoch)
        callback.on_evaluate(args, state, control, metrics={"eval_macro_f1": value}, model=model)
        if control.should_training_stop:
            stopped_at = epoch
            break
    assert stopped_at == 5  # epochs 3, 4, 5 brought no gain (a tie is no gain)
    assert callback.best_epoch == 2 and callback.best_value == 0.9
    assert float(callback.best_state["weight"][0, 0]) == 2.0  # a copy, not a view of the live weights
    assert [h["epoch"] for h in callback.history] == [1, 2, 3, 4, 5]
    assert np.isclose(model.weight[0, 0].item(), 5.0)
