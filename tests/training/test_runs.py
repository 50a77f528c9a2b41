"""Real Trainer runs on a tiny slice: random tiny DistilBERT and RoBERTa, real minilm; leakage; bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.models.students import StudentError
from ambig_lib.runs import PREDICTION_COLUMNS, read_predictions, run_dir
from ambig_lib.training.finetune import (
    TrainConfig,
    TrainingError,
    WeightedSmoothedTrainer,
    train_cv,
    train_or_reuse,
    train_run,
    weighted_smoothed_ce,
)

TINY = TrainConfig(folds=2, max_epochs=2, patience=3, batch_size=8, max_length=32)


@pytest.fixture(scope="module")
def slice_frame() -> pd.DataFrame:
    """40 rows (20 / 20) of the published GPT-4.1 teacher set."""
    frame = load_teacher_set("seed/gpt-4.1")
    return pd.concat([frame[frame.binary_label == 0].head(20), frame[frame.binary_label == 1].head(20)],
                     ignore_index=True)


@pytest.fixture(scope="module")
def eval_slices() -> dict[str, pd.DataFrame]:
    from ambig_lib.data.benchmarks import load_eval_set

    return {"clariq": load_eval_set("clariq").head(30), "ambignq": load_eval_set("ambignq").head(30)}


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory, slice_frame) -> Path:
    """Randomly initialised 2-layer RoBERTa with a byte-level BPE tokenizer trained on the slice."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-roberta")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(slice_frame["initial_request"].tolist(), vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save(str(folder / "bpe.json"))
    tokenizer = RobertaTokenizerFast(tokenizer_file=str(folder / "bpe.json"))
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=80, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2, type_vocab_size=1)
    RobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _check_run(summary: dict, out: Path, eval_slices: dict[str, pd.DataFrame], folds: int, epochs: int) -> None:
    assert len(summary["folds"]) == folds
    for fold in summary["folds"]:
        assert 1 <= fold["best_epoch"] <= fold["epochs_run"] <= epochs
        assert 0.0 <= fold["best_val_macro_f1"] <= 1.0
        assert fold["train_rows"] + fold["val_rows"] == summary["train_rows"]
        assert (Path(fold["path"]) / "config.json").is_file()
        assert all(np.isfinite(h["train_loss"]) for h in fold["history"])
    assert summary["hyperparameters"]["label_smoothing"] == 0.1 and summary["class_weights"] == [1.0, 1.0]
    assert {"torch", "transformers"} <= set(summary["versions"]) and summary["device"] in ("cpu", "cuda")
    assert (out / "training_summary.json").is_file()
    for name, data in eval_slices.items():
        frame = read_predictions(out / f"predictions_{name}.tsv")
        assert tuple(frame.columns) == PREDICTION_COLUMNS
        assert frame["initial_request"].tolist() == data["initial_request"].tolist()
        assert frame["probability"].between(0, 1).all()
        assert (frame["prediction"] == (frame["probability"] >= 0.5).astype(int)).all()
        folds_p = pd.read_csv(out / f"fold_probabilities_{name}.tsv", sep="\t")
        # the ensemble is the mean of the fold models' probabilities
        assert np.allclose(folds_p.mean(axis=1), frame["probability"], atol=2e-6)
        assert len(summary["fold_scores"][name]) == folds


@pytest.mark.parametrize("which", ["tiny_distilbert", "tiny_roberta"])
def test_tiny_random_architectures_train(which, request, slice_frame, eval_slices, tmp_path):
    student = str(request.getfixturevalue(which))
    summary = train_run(student, "seed/gpt-4.1", 0, slice_frame, TINY, eval_slices, out_dir=tmp_path)
    _check_run(summary, tmp_path, eval_slices, folds=2, epochs=2)


def test_trainer_uses_weighted_smoothed_loss(tiny_distilbert, slice_frame):
    """The Trainer's loss on a batch equals weighted_smoothed_ce, not the plain or HF-smoothed loss."""
    from transformers import DataCollatorWithPadding, TrainingArguments

    from ambig_lib.models.students import load_classifier, load_tokenizer
    from ambig_lib.training.finetune import EncodedTexts

    tokenizer = load_tokenizer(tiny_distilbert)
    model = load_classifier(tiny_distilbert).eval()
    labels = [0, 1, 1, 1]
    ds = EncodedTexts(tokenizer, slice_frame["initial_request"].tolist()[:4], labels, 32)
    batch = DataCollatorWithPadding(tokenizer)([ds[i] for i in range(4)])
    weights = np.array([2.0, 2 / 3])
    trainer = WeightedSmoothedTrainer(model=model, args=TrainingArguments(output_dir="/tmp/ambig-loss", report_to=[],
                                                                          use_cpu=True),
                                      class_weights=weights, smoothing=0.1)
    with torch.no_grad():
        loss = float(trainer.compute_loss(model, dict(batch)))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    expected = float(weighted_smoothed_ce(logits, torch.tensor(labels), torch.tensor(weights), 0.1))
    plain = float(torch.nn.functional.cross_entropy(logits, torch.tensor(labels)))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert abs(loss - plain) > 1e-4


def test_no_evaluation_text_reaches_training_or_selection(tiny_distilbert, slice_frame, eval_slices, tmp_path):
    """Every text the Trainer trains or selects on comes from the teacher slice; eval sets are only predicted,
    and predicting them does not change training (same selected epochs and weights without them)."""
    seen: dict[str, set[str]] = {"train": set(), "select": set()}
    observer = lambda role, fold, texts: seen[role].update(texts)  # noqa: E731
    summary = train_run(str(tiny_distilbert), "seed/gpt-4.1", 0, slice_frame, TINY, eval_slices,
                        out_dir=tmp_path / "with", observer=observer)
    eval_texts = set().union(*(set(d["initial_request"]) for d in eval_slices.values()))
    slice_texts = set(slice_frame["initial_request"])
    assert seen["train"] | seen["select"] == slice_texts
    assert not (seen["train"] | seen["select"]) & eval_texts
    assert summary["predictions"] == {"clariq": "predictions_clariq.tsv", "ambignq": "predictions_ambignq.tsv"}
    # positive control: the same check catches an evaluation query slipped into the teacher set
    leaky = slice_frame.copy()
    leaky.loc[0, "initial_request"] = eval_slices["clariq"]["initial_request"].iloc[0]
    caught: set[str] = set()
    result = train_cv(leaky["initial_request"], leaky["binary_label"], str(tiny_distilbert),
                      TrainConfig(folds=2, max_epochs=1, batch_size=8, max_length=32), seed=0,
                      observer=lambda role, fold, texts: caught.update(texts))
    assert caught & eval_texts == {eval_slices["clariq"]["initial_request"].iloc[0]}
    # training without any evaluation set selects the same epochs with the same weights
    alone = train_cv(slice_frame["initial_request"], slice_frame["binary_label"], str(tiny_distilbert), TINY, seed=0)
    assert [f.best_epoch for f in alone.folds] == [f["best_epoch"] for f in summary["folds"]]
    assert [f.best_val_macro_f1 for f in alone.folds] == [f["best_val_macro_f1"] for f in summary["folds"]]
    from ambig_lib.models.students import load_classifier

    for fold in alone.folds:
        saved = load_classifier(tmp_path / "with" / f"fold_{fold.fold}").state_dict()
        assert saved.keys() == fold.state_dict.keys()
        assert all(torch.equal(saved[k], fold.state_dict[k]) for k in saved)
    assert len(result.folds) == 2


def test_real_minilm_short_run(slice_frame, eval_slices, tmp_path):
    summary = train_run("minilm", "seed/gpt-4.1", 1, slice_frame, TINY, eval_slices, out_dir=tmp_path)
    _check_run(summary, tmp_path, eval_slices, folds=2, epochs=2)
    assert summary["student"] == "minilm"
    # a saved fold checkpoint reproduces that fold's probabilities
    from ambig_lib.models.students import load_classifier, load_tokenizer
    from ambig_lib.training.finetune import predict_proba

    fold0 = summary["folds"][0]["path"]
    again = predict_proba(load_classifier(fold0), load_tokenizer(fold0), eval_slices["clariq"]["initial_request"],
                          32)
    saved = pd.read_csv(tmp_path / "fold_probabilities_clariq.tsv", sep="\t")["fold_0"].to_numpy()
    assert np.allclose(again, saved, atol=2e-6)


def test_bad_inputs_give_clear_errors(tiny_distilbert, slice_frame, tmp_path, monkeypatch):
    single = slice_frame[slice_frame.binary_label == 1]
    with pytest.raises(TrainingError, match="single class"):
        train_run(str(tiny_distilbert), "x", 0, single, TINY, out_dir=tmp_path / "a")
    with pytest.raises(TrainingError, match="empty"):
        train_run(str(tiny_distilbert), "x", 0, slice_frame.head(0), TINY, out_dir=tmp_path / "b")
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    with pytest.raises(StudentError, match="no_such_student"):
        train_cv(slice_frame["initial_request"], slice_frame["binary_label"], "no_such_student", TINY)
    with pytest.raises(StudentError, match="teacher, not a student"):
        train_cv(slice_frame["initial_request"], slice_frame["binary_label"], "qwen2.5-coder-0.5b", TINY)


def test_finished_run_is_reused_only_while_config_and_data_are_unchanged(tiny_distilbert, slice_frame, eval_slices,
                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path))
    student, teacher = str(tiny_distilbert), "seed/gpt-4.1"
    one_epoch = TrainConfig(folds=2, max_epochs=1, batch_size=8, max_length=32)
    first, status = train_or_reuse(student, teacher, 0, slice_frame, one_epoch, eval_slices)
    assert status == "trained"
    again, status = train_or_reuse(student, teacher, 0, slice_frame, one_epoch, eval_slices)
    assert status == "up to date" and again["wall_s"] == first["wall_s"]  # read back, not retrained
    two_epochs = TrainConfig(folds=2, max_epochs=2, batch_size=8, max_length=32)
    _, status = train_or_reuse(student, teacher, 0, slice_frame, two_epochs, eval_slices)
    assert status == "retrained (hyper-parameters changed: max_epochs)"
    relabelled = slice_frame.copy()
    relabelled.loc[[0, 20], "binary_label"] = [1, 0]  # same texts, two labels swapped
    _, status = train_or_reuse(student, teacher, 0, relabelled, two_epochs, eval_slices)
    assert status == "retrained (training data changed)"
    _, status = train_or_reuse(student, teacher, 0, relabelled, two_epochs, eval_slices, resume=False)
    assert status == "trained"


def test_reuse_predicts_a_new_set_with_saved_folds_and_retrains_without_them(tiny_distilbert, slice_frame,
                                                                              eval_slices, tmp_path, monkeypatch):
    """A finished run asked for a set it never predicted: its saved fold models predict it (no retraining, the
    ensemble is the folds' mean); with the fold models gone, the run is retrained and says why."""
    import shutil

    from ambig_lib.data.benchmarks import load_eval_set

    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path))
    student, teacher = str(tiny_distilbert), "seed/gpt-4.1"
    config = TrainConfig(folds=2, max_epochs=1, batch_size=8, max_length=32)
    first, _ = train_or_reuse(student, teacher, 0, slice_frame, config, eval_slices)
    wider = {**eval_slices, "clamber": load_eval_set("clamber").head(12)}
    again, status = train_or_reuse(student, teacher, 0, slice_frame, config, wider)
    assert status == "up to date (predicted clamber with the saved fold models)"
    assert again["wall_s"] == first["wall_s"] and again["predictions"]["clamber"] == "predictions_clamber.tsv"
    out = run_dir(student, teacher, 0)
    _check_run({**again, "folds": [{**f, "path": out / f"fold_{f['fold']}"} for f in again["folds"]]}, out, wider,
               folds=2, epochs=1)
    _, status = train_or_reuse(student, teacher, 0, slice_frame, config, wider)
    assert status == "up to date"
    for fold in range(2):
        shutil.rmtree(out / f"fold_{fold}")
    wider["clamber_icl"] = load_eval_set("clamber_icl").head(12)
    retrained, status = train_or_reuse(student, teacher, 0, slice_frame, config, wider)
    assert status == "retrained (no predictions for clamber_icl and no saved fold models of its own)"
    assert set(retrained["predictions"]) == set(wider)
    # fold models the summary does not record (trained alone later, e.g. as a distillation teacher) are not used
    import json

    summary_path = out / "training_summary.json"
    recorded = json.loads(summary_path.read_text(encoding="utf-8"))
    summary_path.write_text(json.dumps({**recorded, "folds": [{**f, "path": None} for f in recorded["folds"]]}),
                            encoding="utf-8")
    wider["ambignq_train_dev"] = load_eval_set("ambignq_train_dev").head(12)
    _, status = train_or_reuse(student, teacher, 0, slice_frame, config, wider)
    assert status.startswith("retrained (no predictions for ambignq_train_dev")
