"""The training grid: parallel runs give the sequential results; runtime-only settings never force a retrain."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ambig_lib.data.ceilings import CEILING_DATASETS
from ambig_lib.data.teacher_sets import load_teacher_set, resolve_teacher_sets
from ambig_lib.runs import read_predictions, run_dir
from ambig_lib.training.finetune import TrainConfig, TrainingError
from ambig_lib.training.grid import job_inputs, run_grid

TINY = TrainConfig(folds=2, max_epochs=2, patience=3, batch_size=8, max_length=32)


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A 40-row (20 / 20) custom teacher set file."""
    frame = load_teacher_set("seed/gpt-4.1")
    frame = pd.concat([frame[frame.binary_label == 0].head(20), frame[frame.binary_label == 1].head(20)])
    path = tmp_path / "tiny_balanced_strict.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return path


def test_parallel_grid_matches_sequential_and_resumes(tiny_distilbert, tiny_set, tmp_path, monkeypatch):
    student, teacher = str(tiny_distilbert), str(tiny_set)
    monkeypatch.setenv("AMBIG_TORCH_THREADS", "1")  # same thread count in both modes
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "parallel"))
    parallel = run_grid([student], [teacher], [0, 1], TINY, ["clariq"], jobs=2)
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "sequential"))
    sequential = run_grid([student], [teacher], [0, 1], TINY, ["clariq"], jobs=1)
    assert parallel["seed"].tolist() == sequential["seed"].tolist() == [0, 1]
    assert set(parallel["status"]) == set(sequential["status"]) == {"trained"}
    for seed in (0, 1):
        monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "parallel"))
        a = read_predictions(run_dir(student, teacher, seed) / "predictions_clariq.tsv")
        monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "sequential"))
        b = read_predictions(run_dir(student, teacher, seed) / "predictions_clariq.tsv")
        assert len(a) == 299
        assert (a["probability"] - b["probability"]).abs().max() < 1e-4
    seeds_differ = read_predictions(run_dir(student, teacher, 0) / "predictions_clariq.tsv")["probability"]
    assert not seeds_differ.equals(read_predictions(run_dir(student, teacher, 1) / "predictions_clariq.tsv")
                                   ["probability"])
    # runtime-only fields (fold checkpoints, threads) do not make a finished run stale; a real change does
    again = run_grid([student], [teacher], [0], TrainConfig(**{**TINY.__dict__, "save_fold_models": False,
                                                              "torch_threads": 2}), ["clariq"])
    assert again["status"].tolist() == ["up to date"]
    changed = run_grid([student], [teacher], [0], TrainConfig(**{**TINY.__dict__, "max_epochs": 1}), ["clariq"])
    assert changed["status"].tolist() == ["retrained (hyper-parameters changed: max_epochs)"]


def test_grid_names_and_bad_jobs():
    assert resolve_teacher_sets("ceilings") == ["ceiling/clariq", "ceiling/ambignq"]
    assert resolve_teacher_sets(["seed/gpt-4.1", "ceilings", "seed/gpt-4.1"]) == [
        "seed/gpt-4.1", "ceiling/clariq", "ceiling/ambignq"]
    with pytest.raises(TrainingError, match="jobs=0"):
        run_grid(["minilm"], ["seed/gpt-4.1"], [0], TINY, jobs=0)


@pytest.mark.parametrize("teacher", sorted(CEILING_DATASETS))
def test_ceiling_jobs_never_train_on_their_test_rows(teacher):
    frame, config, predict = job_inputs(teacher, TrainConfig(), ["clariq", "ambignq"])
    (dataset, test), = predict.items()
    assert dataset == CEILING_DATASETS[teacher]
    seen = set(frame["initial_request"].str.strip().str.casefold())
    assert not seen & set(test["initial_request"].str.strip().str.casefold())
    assert config.max_rows == (1000 if dataset == "ambignq" else None)


def test_one_fold_model_is_the_runs_own_fold(tiny_distilbert, tiny_set, tmp_path, monkeypatch):
    """A missing checkpoint is rebuilt alone: same split and seed give the fold model of the full run."""
    from ambig_lib.training.finetune import (
        TrainingError,
        fold_model_dir,
        load_classifier,
        load_tokenizer,
        predict_proba,
        train_fold_model,
        train_run,
    )

    student, teacher = str(tiny_distilbert), str(tiny_set)
    monkeypatch.setenv("AMBIG_TORCH_THREADS", "1")
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "runs"))
    with pytest.raises(TrainingError, match="No trained model"):
        fold_model_dir(student, teacher, 0, 1)
    alone = train_fold_model(student, teacher, 0, 1, TINY)
    assert alone.name == "fold_1" and not (alone.parent / "fold_0").exists()
    train_run(student, teacher, 0, load_teacher_set(teacher), TINY, {}, out_dir=tmp_path / "full")
    texts = load_teacher_set(teacher)["initial_request"].tolist()
    tokenizer = load_tokenizer(alone)
    a = predict_proba(load_classifier(alone), tokenizer, texts, device="cpu")
    b = predict_proba(load_classifier(tmp_path / "full" / "fold_1"), tokenizer, texts, device="cpu")
    assert abs(a - b).max() < 1e-5
    assert fold_model_dir(student, teacher, 0, 1) == alone
    with pytest.raises(TrainingError, match="fold=2"):
        train_fold_model(student, teacher, 0, 2, TINY)
