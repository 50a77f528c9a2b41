"""Distillation: the fold ensemble's soft labels, their cache (reused only while the pool and the teacher runs are
unchanged), the soft-target head (C chosen on the pool's held-out split), and ``distil`` end to end with a
tiny word-level static encoder whose student exports to the unchanged static ONNX graph."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from isolation import folders_in
from word_encoder import save_word_encoder

from ambig_lib.core.io import sha256_file, write_json_atomic
from ambig_lib.data import pool as pool_module
from ambig_lib.data.pool import build_transfer_pool, load_transfer_pool, provenance_path, write_transfer_pool
from ambig_lib.models.students import load_classifier, load_tokenizer
from ambig_lib.runs import SUMMARY_NAME, run_dir
from ambig_lib.serving.predictor import Predictor
from ambig_lib.serving.static_export import export_static_onnx
from ambig_lib.training import distillation
from ambig_lib.training.distillation import (
    DistillationError,
    distil,
    distilled_static_run_dir,
    ensemble_soft_labels,
    fit_soft_head,
    holdout_split,
    load_soft_labels,
    soft_labels,
    teacher_runs,
)
from ambig_lib.training.finetune import predict_proba
from ambig_lib.training.static_student import HEAD_FILE, StaticConfig

STUDENT, TEACHER_SET, SEEDS, FOLDS, MAX_LENGTH = "tiny", "seed/gpt-4.1", (0, 1), 2, 32
QUERIES = ["what is java", "Best pizza near me", "who wrote the book", "when did the war end",
           "apple", "How tall is the Eiffel tower?", "jaguar speed", "python"]
HEADER = "topic\tinitial_request\tbinary_label\tuser_information_need\n"


@pytest.fixture(scope="module")
def runs_root(tiny_distilbert: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Runs ``tiny/seed/gpt-4.1/<seed>/fold_<k>``: the tiny DistilBERT with a differently seeded head each."""
    import torch

    with folders_in(tmp_path_factory.mktemp("distil"), "AMBIG_RUNS_DIR", "AMBIG_POOL_DIR") as root:
        tokenizer = load_tokenizer(tiny_distilbert)
        for seed in SEEDS:
            for fold in range(FOLDS):
                model = load_classifier(tiny_distilbert)
                torch.manual_seed(100 * seed + fold)
                for layer in (model.pre_classifier, model.classifier):
                    torch.nn.init.normal_(layer.weight, std=0.5)
                folder = run_dir(STUDENT, TEACHER_SET, seed) / f"fold_{fold}"
                model.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
            write_json_atomic(run_dir(STUDENT, TEACHER_SET, seed) / SUMMARY_NAME,
                              {"train_data_sha256": f"data-{seed}", "hyperparameters": {"max_length": MAX_LENGTH}})
        yield root


@pytest.fixture
def tiny_pool(runs_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A pool of one tiny teacher set plus two AmbigNQ train questions, written under ``$AMBIG_POOL_DIR``;
    returns the pool file and the teacher set (append to it and rebuild to change the pool)."""
    monkeypatch.setenv("AMBIG_POOL_DIR", str(tmp_path / "pool"))
    monkeypatch.setattr(pool_module, "ambignq_train_questions", lambda: ["who sang hello", "jaguar top speed"])
    monkeypatch.setattr(pool_module, "evaluation_texts", lambda: {"apple"})
    monkeypatch.setattr(pool_module, "load_ambignq_dev_slice", lambda: pd.DataFrame({"initial_request": ["python"]}))
    teacher_set = tmp_path / "tiny_balanced_strict.tsv"
    teacher_set.write_text(HEADER + "".join(f"t\t{q}\t{i % 2}\tn\n" for i, q in enumerate(QUERIES)), encoding="utf-8")
    return write_transfer_pool(build_transfer_pool([str(teacher_set)])), teacher_set


def _per_fold_mean(queries: list[str]) -> np.ndarray:
    per_fold = []
    for seed in SEEDS:
        for fold in range(FOLDS):
            folder = run_dir(STUDENT, TEACHER_SET, seed) / f"fold_{fold}"
            per_fold.append(predict_proba(load_classifier(folder), load_tokenizer(folder), queries, MAX_LENGTH, 128))
    return np.mean(per_fold, axis=0)


def test_ensemble_is_the_mean_of_every_fold_models_probabilities(runs_root: Path) -> None:
    soft = ensemble_soft_labels(QUERIES, STUDENT, TEACHER_SET, SEEDS, FOLDS, batch_size=128, progress=False)
    expected = _per_fold_mean(QUERIES)
    np.testing.assert_allclose(soft, expected, rtol=0, atol=1e-12)
    assert soft.shape == (len(QUERIES),) and 0.0 < soft.min() and soft.max() < 1.0
    assert np.ptp(soft) > 1e-4  # the fold models differ, so the queries do


def test_a_missing_fold_model_names_the_command_that_trains_it(runs_root: Path) -> None:
    with pytest.raises(DistillationError, match=r"No fold model at runs/tiny/seed/gpt-4\.1/7/fold_0 .*"
                       r"--train-if-missing .*ambig train --students tiny "
                       r"--teachers seed/gpt-4\.1 --seeds 0 7"):
        ensemble_soft_labels(QUERIES, STUDENT, TEACHER_SET, (0, 7), FOLDS, progress=False)


def test_soft_labels_are_cached_and_recomputed_when_the_pool_or_a_teacher_run_changes(
        tiny_pool: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pool_file, teacher_set = tiny_pool
    first = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False)
    assert first.status == f"computed (no cached soft labels; {len(first.frame)} queries labelled, 0 reused)"
    assert first.path.name == "soft_labels_tiny_seed-gpt-4.1.tsv" and first.path.parent == pool_file.parent
    queries = load_transfer_pool(pool_file)["query"].tolist()
    assert first.frame["query"].tolist() == queries
    np.testing.assert_allclose(first.frame["p_ambiguous"], _per_fold_mean(queries), atol=5e-7)
    provenance = json.loads(provenance_path(first.path).read_text(encoding="utf-8"))
    assert provenance["pool_sha256"] == sha256_file(pool_file)
    assert [run["train_data_sha256"] for run in provenance["teacher"]["runs"]] == ["data-0", "data-1"]
    assert provenance["teacher"]["runs"][0]["run"] == "runs/tiny/seed/gpt-4.1/0"

    def no_teacher(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the cache should have been reused")

    with monkeypatch.context() as patch:  # nothing changed: the cache is reused without the fold models
        patch.setattr(distillation, "ensemble_soft_labels", no_teacher)
        again = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False)
    assert again.status == "up to date"
    pd.testing.assert_frame_equal(again.frame, first.frame)

    summary_file = run_dir(STUDENT, TEACHER_SET, 1) / SUMMARY_NAME
    original = summary_file.read_text(encoding="utf-8")
    try:
        summary_file.write_text(original.replace("data-1", "retrained-data-1"), encoding="utf-8")
        retrained = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False)
        assert retrained.status == (f"computed (the teacher runs changed; {len(first.frame)} queries labelled, "
                                    "0 reused)")
    finally:
        summary_file.write_text(original, encoding="utf-8")
    restored = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False)  # no label of another
    assert restored.status.startswith(f"computed (the teacher runs changed; {len(first.frame)} queries labelled")

    with teacher_set.open("a", encoding="utf-8") as handle:
        handle.write("t\tis it going to rain tomorrow\t1\tn\n")
    write_transfer_pool(build_transfer_pool([str(teacher_set)]), pool_file)
    labelled: list[list[str]] = []
    real_ensemble = distillation.ensemble_soft_labels

    def recording_teacher(queries: list[str], *args: object, **kwargs: object) -> np.ndarray:
        labelled.append(list(queries))
        return real_ensemble(queries, *args, **kwargs)

    with monkeypatch.context() as patch:  # the grown pool: only its new query meets the fold models
        patch.setattr(distillation, "ensemble_soft_labels", recording_teacher)
        grown = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False)
    assert labelled == [["is it going to rain tomorrow"]]
    assert grown.status == f"computed (the pool changed; 1 queries labelled, {len(first.frame)} reused)"
    assert len(grown.frame) == len(first.frame) + 1
    grown_queries = load_transfer_pool(pool_file)["query"].tolist()
    assert grown.frame["query"].tolist() == grown_queries
    np.testing.assert_allclose(grown.frame["p_ambiguous"], _per_fold_mean(grown_queries), atol=5e-7)
    old = grown.frame.set_index("query").loc[queries, "p_ambiguous"].to_numpy()
    np.testing.assert_array_equal(old, first.frame["p_ambiguous"].to_numpy())  # reused, not recomputed
    forced = soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False, force=True)
    assert forced.status == f"computed (forced; {len(grown.frame)} queries labelled, 0 reused)"

    grown.path.write_text(grown.path.read_text(encoding="utf-8").replace("\t0.", "\t1.", 1), encoding="utf-8")
    with pytest.raises(DistillationError, match=r"differs from its recorded SHA-256\. Fix: "):
        load_soft_labels(pool_file, teacher_runs(STUDENT, TEACHER_SET, SEEDS, FOLDS))
    assert soft_labels(pool_file, STUDENT, TEACHER_SET, SEEDS, FOLDS, progress=False).status.startswith("computed")


def test_soft_target_head_recovers_a_linear_rule_with_c_chosen_on_the_held_out_split() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 6))
    weights = np.array([2.0, -1.5, 1.0, 0.0, 0.5, -0.5])
    targets = 1.0 / (1.0 + np.exp(-(features @ weights + 0.3)))
    config = StaticConfig(cs=(1e-4, 0.1, 10.0))
    head = fit_soft_head(features, targets, config, seed=3)
    selection = head.selection
    train, held = holdout_split(2000, seed=3)
    assert selection["holdout_rows"] == len(held) == 200 and selection["train_rows"] == len(train) == 1800
    assert not set(train.tolist()) & set(held.tolist())
    scores = selection["scores"]
    assert set(scores) == {repr(c) for c in config.cs}
    assert head.best_c == max(config.cs, key=lambda c: (scores[repr(c)]["roc_auc_vs_teacher_hard"],
                                                        -scores[repr(c)]["mean_abs_diff"], -c))
    assert head.best_c != 1e-4  # an over-regularised head agrees worse with the teacher
    best = scores[repr(head.best_c)]
    assert best["roc_auc_vs_teacher_hard"] > 0.95 and best["mean_abs_diff"] < 0.05
    cosine = head.coef @ weights / np.linalg.norm(head.coef) / np.linalg.norm(weights)
    assert cosine > 0.99 and abs(head.intercept - 0.3) < 0.2
    np.testing.assert_allclose(head.predict_proba(features[held]), targets[held], atol=0.1)


def test_bad_soft_targets_are_refused() -> None:
    with pytest.raises(DistillationError, match="targets in"):
        fit_soft_head(np.zeros((4, 2)), [0.2, 1.5, 0.1, 0.3])


@pytest.fixture
def word_encoder(tmp_path: Path) -> Path:
    """A word-level Model2Vec encoder over the pool's words (8 dimensions), saved like a distilled one."""
    return save_word_encoder(tmp_path / "word-encoder", sorted({
        w for q in QUERIES + ["who sang hello", "jaguar top speed"] for w in q.lower().replace("?", " ").split()}))


def test_distil_end_to_end_and_the_student_exports_to_the_static_graph(
        tiny_pool: tuple[Path, Path], word_encoder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, teacher_set = tiny_pool
    monkeypatch.setattr(distillation, "distill_static_encoder", lambda config: word_encoder)
    config = StaticConfig(base="minilm", cs=(0.1, 10.0))
    result = distil([str(teacher_set)], STUDENT, TEACHER_SET, SEEDS, config=config, folds=FOLDS, progress=False)
    assert result["pool_status"] == "up to date" and result["soft_labels_status"].startswith("computed")
    run = distilled_static_run_dir(STUDENT, TEACHER_SET, 0, config)
    assert run.as_posix().endswith("runs/static-distilled-minilm-from-tiny/seed/gpt-4.1/0")
    assert result["head"] == run / HEAD_FILE and result["head"].is_file() and result["summary"].is_file()
    student = result["static_student"]
    summary = student.summary
    assert summary["teacher"] == TEACHER_SET and summary["best_c"] in config.cs
    assert summary["selection"]["holdout_rows"] == 1 and summary["pool_sha256"] == sha256_file(result["pool"])
    assert json.loads((run / "static_summary.json").read_text())["head_sha256"] == sha256_file(run / HEAD_FILE)

    again = distil([str(teacher_set)], STUDENT, TEACHER_SET, SEEDS, config=config, folds=FOLDS, progress=False)
    assert again["soft_labels_status"] == "up to date"
    assert again["static_student"].summary == json.loads(result["summary"].read_text(encoding="utf-8"))
    assert again["static_student"].summary["trained_at"] == summary["trained_at"]  # reused, not refit
    np.testing.assert_array_equal(again["static_student"].coef, student.coef)

    exported = export_static_onnx(student, tmp_path / "export")
    queries = result["pool"].read_text(encoding="utf-8").splitlines()[1:]
    queries = [line.split("\t")[0] for line in queries]
    served = Predictor(exported, "fp32", threads=1).predict_proba(queries)
    np.testing.assert_allclose(served, student.predict_proba(queries), atol=1e-5)
