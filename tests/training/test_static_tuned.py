"""The tuned static student: trained token vectors with an MLP head learn the teacher's rule, the epoch is chosen
on held-out agreement, an unchanged run is reused, and the exported graph answers what the model answers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from isolation import folders_in
from soft_label_fixtures import PLACES, TOPICS, rule_soft_labels
from word_encoder import save_word_encoder

from ambig_lib.serving.predictor import Predictor
from ambig_lib.serving.static_export import export_tuned_static_onnx
from ambig_lib.training import static_tuned
from ambig_lib.training.distillation import SoftLabels
from ambig_lib.training.static_tuned import (
    TunedStaticConfig,
    train_tuned_static_student,
    tuned_static_run_dir,
)

CONFIG = TunedStaticConfig(hidden=16, epochs=4, learning_rate=1e-2, batch_size=16, torch_threads=1)


@pytest.fixture
def word_encoder(tmp_path: Path) -> Path:
    """A word-level Model2Vec encoder over the rule's words (8 dimensions), saved like a distilled one."""
    words = ["tell", "me", "about", "what", "year", "was", "founded", "in", "?", *TOPICS, *PLACES]
    return save_word_encoder(tmp_path / "word-encoder", words)


def test_tuned_static_student_learns_exports_and_is_reused(word_encoder: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static_tuned, "distill_static_encoder", lambda config: word_encoder)
    labels = rule_soft_labels(tmp_path / "pool")
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        student = train_tuned_static_student(labels, CONFIG, seed=0, progress=False)
        summary = student.summary
        history = summary["selection"]["history"]
        assert [r["epoch"] for r in history] == [1, 2, 3, 4]
        best = max(history, key=lambda r: (r["roc_auc_vs_teacher_hard"], -r["mean_abs_diff"], -r["epoch"]))
        assert summary["epoch"] == best["epoch"]
        assert summary["holdout_agreement"]["roc_auc_vs_teacher_hard"] > 0.95
        probs = student.predict_proba(["tell me about java", "what year was java founded in lima ?"])
        assert probs[0] > 0.5 > probs[1]

        again = train_tuned_static_student(labels, CONFIG, seed=0, progress=False)
        assert again.summary["trained_at"] == summary["trained_at"]  # reused, not retrained
        queries = labels.frame["query"].tolist()[:50] + ["an unknownword only", "tell me"]
        np.testing.assert_allclose(again.predict_proba(queries), student.predict_proba(queries), atol=1e-7)

        run = tuned_static_run_dir("rule", "seed/gpt-4.1", 0, CONFIG)
        exported = export_tuned_static_onnx(student, run / "export")
        np.testing.assert_allclose(Predictor(exported, "fp32", threads=1).predict_proba(queries),
                                   student.predict_proba(queries), atol=1e-5)
        int8 = Predictor(exported, "int8", threads=1).predict_proba(queries)
        assert np.mean((int8 >= 0.5) == (student.predict_proba(queries) >= 0.5)) >= 0.95


def test_the_length_feature_lets_the_head_see_what_the_unit_mean_hides(word_encoder: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A teacher that only looks at length: "java" and "java java java" have the same unit mean, so only the
    head with the token count can follow it; the exported graph computes the count from the mask alike."""
    monkeypatch.setattr(static_tuned, "distill_static_encoder", lambda config: word_encoder)
    rows = [(" ".join([TOPICS[(i // 2) % len(TOPICS)]] * (1 if i % 2 else 3)), 0.9 if i % 2 else 0.1)
            for i in range(400)]
    folder = tmp_path / "pool"
    folder.mkdir()
    frame = pd.DataFrame(rows, columns=["query", "p_ambiguous"])
    frame.to_csv(folder / "soft_labels_length.tsv", sep="\t", index=False)
    labels = SoftLabels(frame, folder / "soft_labels_length.tsv", "computed (test)",
                        {"student": "length", "teacher_set": "seed/gpt-4.1", "seeds": [0], "folds": 2, "runs": []})
    blind_config = replace(CONFIG, epochs=8)
    with_length = replace(blind_config, length_feature=True)
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        blind = train_tuned_static_student(labels, blind_config, seed=0, progress=False)
        sighted = train_tuned_static_student(labels, with_length, seed=0, progress=False)
        same = blind.predict_proba(["java", "java java java"])
        assert abs(same[0] - same[1]) < 1e-4  # one unit mean, one answer: it cannot follow the teacher
        assert blind.summary["holdout_agreement"]["mean_abs_diff"] > 0.3
        assert sighted.summary["holdout_agreement"]["mean_abs_diff"] < 0.1
        assert sighted.summary["holdout_agreement"]["roc_auc_vs_teacher_hard"] == 1.0
        assert tuned_static_run_dir("length", "seed/gpt-4.1", 0, with_length).parts[-4] == \
            "static-tuned-minilm-length-from-length"
        queries = ["java", "java java java", "paris", "paris paris paris", "paris java"]
        probs = sighted.predict_proba(queries)
        assert probs[0] > 0.5 > probs[1] and probs[2] > 0.5 > probs[3]
        exported = export_tuned_static_onnx(sighted, tmp_path / "export")
        np.testing.assert_allclose(Predictor(exported, "fp32", threads=1).predict_proba(queries), probs, atol=1e-5)
