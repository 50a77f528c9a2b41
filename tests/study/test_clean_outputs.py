"""No warnings in the appendix: their causes are fixed, and only listed third-party messages are silenced."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ambig_lib.study import findings
from ambig_lib.study.notebook_output import KNOWN_HARMLESS, facts, silence_known_harmless


def test_only_the_listed_harmless_messages_are_silenced(caplog: pytest.LogCaptureFixture) -> None:
    assert all(item.reason and (item.category or item.logger is not None) for item in KNOWN_HARMLESS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        silence_known_harmless()
        silence_known_harmless()  # idempotent
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("# The axis name: batch will not be used, since ...", UserWarning, stacklevel=1)
        warnings.warn("Exporting a model while it is in training mode.", UserWarning, stacklevel=1)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["Exporting a model while it is in training mode.",
                                                "`isinstance(treespec, LeafSpec)` is deprecated"]
    root_filters = [f for f in logging.getLogger().filters if getattr(f, "pattern", None)]
    assert len(root_filters) == sum(1 for item in KNOWN_HARMLESS if item.logger == "")
    with caplog.at_level(logging.WARNING):
        logging.getLogger().warning("Please consider to run pre-processing before quantization. Refer to ...")
        logging.getLogger("torch.onnx._internal.exporter._registration").warning(
            "torchvision is not installed. Skipping torchvision::nms")
        logging.getLogger().warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]


def test_onnx_export_runs_the_module_in_eval_mode(tmp_path: Path) -> None:
    import torch

    from ambig_lib.serving.export import torch_export_onnx

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.drop(self.embed(input_ids)).sum(dim=1) * attention_mask[:, :1]

    module = Probe()
    assert module.training
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch_export_onnx(module, ["input_ids", "attention_mask"], tmp_path / "probe.onnx", 18)
    assert not module.training and not module.drop.training
    assert not [w for w in caught if "training mode" in str(w.message)]


def test_training_prints_nothing_to_stdout(tiny_distilbert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ambig_lib.training.finetune import TrainConfig, train_cv

    texts = [f"what is the best {w}" for w in "abcdefghij"] + [f"tell me about the {w} thing" for w in "abcdefghij"]
    labels = [0] * 10 + [1] * 10
    train_cv(texts, labels, str(tiny_distilbert), TrainConfig(folds=2, max_epochs=1, batch_size=8), seed=0)
    captured = capsys.readouterr()
    assert captured.out == "", "Trainer logs are progress, not results: stderr (the run log), never stdout"
    assert "held-out synthetic macro-F1" in captured.err


def test_facts_flattens_a_record_into_a_two_column_table() -> None:
    table = facts({"opset": 18, "files": {"model.onnx": "e" * 64}, "per_channel": True, "ratio": 0.123456789,
                   "ops": ["MatMul", "Attention"], "source_model": "/abs/path"}, exclude=("source_model",))
    assert table.index.name == "field" and list(table.columns) == ["value"]
    assert table["value"].to_dict() == {
        "opset": "18", "files.model.onnx": "eeeeeeeeeeee…", "per_channel": "True", "ratio": "0.1235",
        "ops": "MatMul, Attention"}


def test_findings_are_rendered_from_the_numbers() -> None:
    table = pd.DataFrame({
        "teacher": ["A", "B", "C"], "length_only_cv_accuracy": [0.85, 0.52, 0.78],
        "tfidf_cv_accuracy": [0.9, 0.5, 0.8], "mean_words_specific": [9.0, 9.4, 8.0],
        "mean_words_ambiguous": [5.0, 9.9, 5.5]})
    text = findings.inspection_findings(table).text
    assert "0.520-0.850" in text and "2 of them reach at least 0.75" in text and "highest for A (0.850)" in text
    assert "lowest is B (0.520)" in text and "9.90 words against 9.40" in text
    changed = findings.inspection_findings(table.assign(length_only_cv_accuracy=[0.6, 0.55, 0.7])).text
    assert "0 of them reach" in changed and "highest for C (0.700)" in changed

    rows = pd.DataFrame([
        {"method": "finetuned", "student": "minilm", "teacher": "GPT-4.1", "dataset": "clariq", "n": 299,
         "roc_auc": 0.71, "roc_auc_ci_low": 0.62, "roc_auc_ci_high": 0.8, "macro_f1": 0.47, "weighted_f1": 0.6},
        {"method": "finetuned", "student": "mpnet", "teacher": "Gemma", "dataset": "clariq", "n": 299,
         "roc_auc": 0.55, "roc_auc_ci_low": 0.45, "roc_auc_ci_high": 0.65, "macro_f1": 0.4, "weighted_f1": 0.6},
        {"method": "length_only", "student": None, "teacher": "GPT-4.1", "dataset": "clariq", "n": 299,
         "roc_auc": 0.62, "roc_auc_ci_low": 0.53, "roc_auc_ci_high": 0.7, "macro_f1": 0.5, "weighted_f1": 0.7},
        {"method": "constant_all_ambiguous", "student": None, "teacher": None, "dataset": "clariq", "n": 299,
         "roc_auc": 0.5, "roc_auc_ci_low": 0.5, "roc_auc_ci_high": 0.5, "macro_f1": 0.467, "weighted_f1": 0.818},
    ])
    found = findings.evaluation_findings(rows, ["clariq"])
    assert found.summary.startswith("On clariq (n = 299) the best synthetic-trained system is fine-tuned minilm on "
                                    "GPT-4.1 with ROC-AUC 0.710 [0.620, 0.800]")
    assert "the best control, length-only LR on GPT-4.1, reaches 0.620" in found.text
    assert "1 of 2 trained rows have a 95% interval above chance" in found.text
    assert "weighted F1 0.818" in found.text
    assert '<div class="ambig-findings">' in found._repr_html_()
