"""The small transformer tier: the student cut to its first layers keeps their weights, the soft-target loss is
the cross-entropy to the teacher, and distillation learns a teacher's rule, picks (depth, epoch) by held-out
agreement only and reuses an unchanged run."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from isolation import folders_in
from soft_label_fixtures import rule_soft_labels

from ambig_lib.core.io import sha256_file
from ambig_lib.models.students import load_classifier, load_tokenizer, resolve_student
from ambig_lib.runs import run_dir
from ambig_lib.training.distillation import DistillationError, holdout_split
from ambig_lib.training.distilled_transformer import (
    MODEL_DIR,
    SUMMARY_FILE,
    SmallTransformerConfig,
    _fingerprint,
    augmented_soft_labels,
    distilled_transformer_run_dir,
    initial_weights,
    logit_mse,
    soft_cross_entropy,
    train_distilled_transformer,
    truncated_classifier,
)
from ambig_lib.training.finetune import predict_proba

CONFIG = SmallTransformerConfig(layers=(1, 2), epochs=2, learning_rate=3e-4, batch_size=16, torch_threads=1,
                                init="base")


def test_soft_cross_entropy_is_the_cross_entropy_to_the_teachers_probability() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.9]])
    hard = torch.tensor([1, 0, 1])
    assert soft_cross_entropy(logits, hard.float()).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, hard).item(), abs=1e-6)
    p = torch.tensor([0.2, 0.7, 0.5])
    q = torch.softmax(logits, dim=-1)[:, 1]
    manual = -(p * q.log() + (1 - p) * (1 - q).log()).mean()
    assert soft_cross_entropy(logits, p).item() == pytest.approx(manual.item(), abs=1e-6)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).mean()
    kl = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean()
    assert soft_cross_entropy(logits, p).item() == pytest.approx((kl + entropy).item(), abs=1e-6)


def test_logit_mse_is_the_squared_error_to_the_teachers_log_odds() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.9]])
    p = torch.tensor([0.2, 0.7, 0.5])
    student = torch.tensor([-1.5, -1.5, 1.6])
    teacher = torch.log(p / (1 - p))
    assert logit_mse(logits, p).item() == pytest.approx(((student - teacher) ** 2).mean().item(), abs=1e-6)
    exact = torch.stack([torch.zeros(3), teacher], dim=1) + 0.25  # the same log-odds, any common shift
    assert logit_mse(exact, p).item() == pytest.approx(0.0, abs=1e-10)
    hard = logit_mse(torch.tensor([[0.0, 0.0]]), torch.tensor([1.0]))  # p = 1 is clipped, not infinite
    assert hard.item() == pytest.approx(math.log((1 - 1e-4) / 1e-4) ** 2, rel=1e-4)


def test_a_loss_other_than_the_default_has_its_own_run_and_the_default_keeps_the_old_fingerprint(
        tmp_path: Path) -> None:
    mse = SmallTransformerConfig(loss="logit_mse")
    assert distilled_transformer_run_dir("mpnet", "seed/gpt-4.1", 0, mse).as_posix().endswith(
        "runs/distilled-minilm-logit-mse-from-mpnet/seed/gpt-4.1/0")
    assert distilled_transformer_run_dir("mpnet", "seed/gpt-4.1", 0).as_posix().endswith(
        "runs/distilled-minilm-from-mpnet/seed/gpt-4.1/0")
    labels = rule_soft_labels(tmp_path / "pool")
    start = resolve_student("minilm")
    default = _fingerprint(labels, SmallTransformerConfig(init="base"), 0, start)["config"]
    assert "loss" not in default  # runs saved before the field existed are still reused
    assert _fingerprint(labels, SmallTransformerConfig(init="base", loss="logit_mse"), 0, start)["config"][
        "loss"] == "logit_mse"
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"), pytest.raises(
            DistillationError, match=r"Unknown loss 'hinge'\. Fix: one of soft_ce, logit_mse\."):
        train_distilled_transformer(labels, SmallTransformerConfig(init="base", loss="hinge"), seed=0)


def test_the_cut_student_keeps_the_first_layers_weights() -> None:
    full = load_classifier(resolve_student("minilm"))
    cut = truncated_classifier("minilm", 2)
    assert cut.config.num_hidden_layers == 2 and len(cut.bert.encoder.layer) == 2
    for name, tensor in cut.bert.state_dict().items():
        if name.startswith(("embeddings.", "encoder.layer.0.", "encoder.layer.1.")):
            torch.testing.assert_close(tensor, full.bert.state_dict()[name], rtol=0, atol=0)
    with pytest.raises(DistillationError, match="Cannot keep 7 layers"):
        truncated_classifier("minilm", 7)
    with pytest.raises(DistillationError, match="Cannot keep 0 layers"):
        truncated_classifier("minilm", 0)


def test_distillation_learns_the_teacher_and_chooses_on_held_out_agreement(tmp_path: Path) -> None:
    labels = rule_soft_labels(tmp_path / "pool")
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        model_dir, summary = train_distilled_transformer(labels, CONFIG, seed=0)
        run = distilled_transformer_run_dir("rule", "seed/gpt-4.1", 0, CONFIG)
        assert run.as_posix().endswith("runs/distilled-minilm-from-rule/seed/gpt-4.1/0")
        assert model_dir == run / MODEL_DIR and (run / SUMMARY_FILE).is_file()
        history = summary["selection"]["history"]
        assert [(r["layers"], r["epoch"]) for r in history] == [(1, 1), (1, 2), (2, 1), (2, 2)]
        best = max(history, key=lambda r: (r["roc_auc_vs_teacher_hard"], -r["mean_abs_diff"]))
        assert (summary["layers"], summary["epoch"]) == (best["layers"], best["epoch"])
        assert summary["holdout_agreement"]["roc_auc_vs_teacher_hard"] > 0.95
        assert summary["selection"]["holdout_rows"] == 40 and summary["selection"]["train_rows"] == 360
        model = load_classifier(model_dir)
        assert model.config.num_hidden_layers == summary["layers"]
        probs = predict_proba(model, load_tokenizer(model_dir), ["tell me about paris 9999",
                                                                 "what year was paris founded in oslo 9998?"], 64)
        assert probs[0] > 0.5 > probs[1]

        again_dir, again = train_distilled_transformer(labels, CONFIG, seed=0)
        assert again_dir == model_dir and again["trained_at"] == summary["trained_at"]  # reused, not retrained
        assert json.loads((run / SUMMARY_FILE).read_text(encoding="utf-8")) == again
        assert math.isfinite(again["wall_s"]) and np.isfinite(again["parameters"])


def test_the_fine_tuned_init_starts_from_fold_0_of_the_students_own_run(tmp_path: Path) -> None:
    config = SmallTransformerConfig(layers=(1,), epochs=1, learning_rate=3e-4, batch_size=16, torch_threads=1)
    assert config.init == "fine-tuned"
    labels = rule_soft_labels(tmp_path / "pool")
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        with pytest.raises(DistillationError, match=r"No fold model at runs/minilm/seed/gpt-4\.1/0/fold_0, .*"
                           r"Fix: add --train-if-missing .* or use --small-init base\."):
            train_distilled_transformer(labels, config, seed=0)
        with pytest.raises(DistillationError, match=r"Unknown init 'warm'\. Fix: one of fine-tuned, base\."):
            initial_weights(SmallTransformerConfig(init="warm"), "seed/gpt-4.1", 0)
        fold = run_dir("minilm", "seed/gpt-4.1", 0) / "fold_0"
        fine_tuned = truncated_classifier("minilm", 6)  # stands in for a fine-tuned fold: distinct weights
        torch.manual_seed(0)
        with torch.no_grad():
            fine_tuned.classifier.weight.normal_(std=0.5)
            fine_tuned.bert.encoder.layer[0].output.dense.weight.add_(0.01)
        fine_tuned.save_pretrained(fold)
        load_tokenizer(resolve_student("minilm")).save_pretrained(fold)
        assert initial_weights(config, "seed/gpt-4.1", 0) == fold
        assert initial_weights(SmallTransformerConfig(init="base"), "seed/gpt-4.1", 0) == resolve_student("minilm")
        cut = truncated_classifier(fold, 1)
        torch.testing.assert_close(cut.classifier.weight, fine_tuned.classifier.weight, rtol=0, atol=0)
        torch.testing.assert_close(cut.bert.encoder.layer[0].output.dense.weight,
                                   fine_tuned.bert.encoder.layer[0].output.dense.weight, rtol=0, atol=0)
        base_layer = truncated_classifier("minilm", 1).bert.encoder.layer[0].output.dense.weight
        assert not torch.equal(cut.bert.encoder.layer[0].output.dense.weight, base_layer)

        _, summary = train_distilled_transformer(labels, config, seed=0)
        recorded = summary["fingerprint"]["initial_weights"]
        assert recorded["init"] == "fine-tuned" and recorded["weights_sha256"] == sha256_file(fold / "model.safetensors")
        assert recorded["model_dir"].endswith("minilm/seed/gpt-4.1/0/fold_0")
        with torch.no_grad():
            fine_tuned.classifier.bias.add_(1.0)
        fine_tuned.save_pretrained(fold)  # a retrained fold: the run is not reused
        _, again = train_distilled_transformer(labels, config, seed=0)
        assert again["fingerprint"]["initial_weights"]["weights_sha256"] == sha256_file(fold / "model.safetensors")
        assert again["fingerprint"] != summary["fingerprint"]


def test_augmented_queries_are_labelled_once_by_the_teacher_and_join_only_the_training_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ambig_lib.data import pool_augmentation
    from ambig_lib.training import distillation

    labels = rule_soft_labels(tmp_path / "given")
    monkeypatch.setattr(pool_augmentation, "blocked_texts", lambda: {"exact": set(), "normalised": set()})
    seen: list[list[str]] = []

    def rule_teacher(queries, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(list(queries))  # the fold ensemble's stand-in: the fixture's own rule
        return np.array([0.85 if "tell" in q or "about" in q else 0.1 for q in queries])

    monkeypatch.setattr(distillation, "ensemble_soft_labels", rule_teacher)
    config = SmallTransformerConfig(layers=(1,), epochs=1, learning_rate=3e-4, batch_size=16, torch_threads=1,
                                    init="base", augmented=120)
    with folders_in(tmp_path, "AMBIG_RUNS_DIR", "AMBIG_POOL_DIR"):
        _, summary = train_distilled_transformer(labels, config, seed=0)
        run = distilled_transformer_run_dir("rule", "seed/gpt-4.1", 0, config)
        assert run.as_posix().endswith("runs/distilled-minilm-augmented120-from-rule/seed/gpt-4.1/0")
        assert len(seen) == 1 and len(seen[0]) == 120
        selection = summary["selection"]
        assert (selection["train_rows"], selection["holdout_rows"], selection["augmented_train_rows"]) == \
            (360, 40, 120)
        _, held_rows = holdout_split(len(labels.frame), 0)
        held_numbers = {str(i) for i in held_rows}  # each fixture query ends with its own row number
        assert len(held_numbers) == 40
        variants = pd.read_csv(tmp_path / "pool" / "transfer_pool_augmented-120.tsv", sep="\t", keep_default_na=False)
        numbers = {w.rstrip("?") for v in variants["query"] for w in v.split() if w.rstrip("?").isdigit()}
        assert len(numbers) > 50 and not numbers & held_numbers  # no variant is made from a held-out query
        fingerprint = summary["fingerprint"]
        assert fingerprint["augmented_rows"] == 120 and fingerprint["config"]["augmented"] == 120
        labelled = tmp_path / "given" / "soft_labels_rule.augmented-120.tsv"
        assert fingerprint["augmented_soft_labels_sha256"] == sha256_file(labelled)
        _, again = train_distilled_transformer(labels, config, seed=0)  # labels cached, run reused
        assert len(seen) == 1 and again["trained_at"] == summary["trained_at"]
        larger = augmented_soft_labels(labels, replace(config, augmented=200), 0, holdout_split(400, 0)[0])
        assert len(seen) == 2 and len(seen[1]) == 80  # the first 120 variants keep their labels
        assert larger.frame.iloc[:120].equals(pd.read_csv(labelled, sep="\t", keep_default_na=False))
