"""The fold ensemble in one ONNX graph: the standard predictor serves it, its fp32 answer is the members' mean
probability, ``export.json`` names every member, and members that cannot share one graph are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ambig_lib.models.students import load_classifier, load_tokenizer
from ambig_lib.serving.ensemble_export import ensemble_export_stale_reason, export_ensemble_onnx
from ambig_lib.serving.export import ExportOptions
from ambig_lib.serving.layout import EXPORT_META, ServingError
from ambig_lib.serving.predictor import Predictor
from ambig_lib.training.finetune import predict_proba

QUERIES = ["what is java", "Best pizza near me in Paris tonight", "who wrote the book", "apple",
           "How tall is the Eiffel tower?", "jaguar speed", "python", "when did the war end in europe"]


@pytest.fixture(scope="module")
def members(tiny_distilbert: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny DistilBERTs whose heads are seeded differently (so their answers differ)."""
    import torch

    root = tmp_path_factory.mktemp("members")
    tokenizer = load_tokenizer(tiny_distilbert)
    folders = []
    for k in range(3):
        model = load_classifier(tiny_distilbert)
        torch.manual_seed(k)
        for layer in (model.pre_classifier, model.classifier):
            torch.nn.init.normal_(layer.weight, std=0.5)
        folder = root / f"fold_{k}"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def ensemble(members: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_ensemble_onnx(members, tmp_path_factory.mktemp("ensemble") / "export",
                                ExportOptions(include_pytorch=False, max_length=32), {"teacher_set": "tiny"})


def _member_mean(members: list[Path]) -> np.ndarray:
    return np.mean([predict_proba(load_classifier(m), load_tokenizer(m), QUERIES, 32, 8, "cpu") for m in members],
                   axis=0)


def test_the_served_graph_answers_the_mean_member_probability(members: list[Path], ensemble: Path) -> None:
    expected = _member_mean(members)
    per_member = [predict_proba(load_classifier(m), load_tokenizer(m), QUERIES, 32, 8, "cpu") for m in members]
    assert max(np.abs(p - expected).max() for p in per_member) > 0.01  # the members disagree, so the mean matters
    fp32 = Predictor(ensemble, "fp32", threads=1)
    np.testing.assert_allclose(fp32.predict_proba(QUERIES), expected, atol=1e-5)
    assert fp32.predict_one(QUERIES[0]).probability == pytest.approx(expected[0], abs=1e-5)
    int8 = Predictor(ensemble, "int8", threads=1).predict_proba(QUERIES)
    assert ((int8 >= 0) & (int8 <= 1)).all() and np.abs(int8 - expected).mean() < 0.05


def test_export_json_names_every_member_and_the_description(members: list[Path], ensemble: Path) -> None:
    meta = json.loads((ensemble / EXPORT_META).read_text(encoding="utf-8"))
    assert meta["kind"] == "ensemble" and meta["teacher_set"] == "tiny" and meta["max_length"] == 32
    assert [Path(m["model"]).name for m in meta["members"]] == ["fold_0", "fold_1", "fold_2"]
    assert all(len(m["sha256"]) == 64 for m in meta["members"])
    assert len({m["sha256"] for m in meta["members"]}) == 3


def test_members_that_cannot_share_one_graph_are_refused(members: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="at least 2 member"):
        export_ensemble_onnx(members[:1], tmp_path / "one")
    with pytest.raises(ServingError, match="no config.json"):
        export_ensemble_onnx([members[0], tmp_path], tmp_path / "empty")
    other = tmp_path / "other_tokenizer"
    shutil.copytree(members[1], other)
    tokenizer = json.loads((other / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["truncation"] = {"direction": "Right", "max_length": 7, "strategy": "LongestFirst", "stride": 0}
    (other / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    with pytest.raises(ServingError, match="different tokenizers"):
        export_ensemble_onnx([members[0], other], tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()


def test_an_ensemble_over_the_protobuf_limit_keeps_its_weights_beside_the_graph(members: list[Path], ensemble: Path,
                                                                                 tmp_path: Path) -> None:
    """Past ``external_data_bytes`` (2.2 GB for five mpnet folds; forced here with 0) both graphs keep their
    weights in ``<graph>.data``: export.json hashes them, the predictor checks and loads them, answers unchanged."""
    big = export_ensemble_onnx(members, tmp_path / "export",
                               ExportOptions(include_pytorch=False, max_length=32, external_data_bytes=0))
    meta = json.loads((big / EXPORT_META).read_text(encoding="utf-8"))
    assert {"model.onnx.data", "model.int8.onnx.data"} <= set(meta["files"])
    assert (big / "model.onnx.data").stat().st_size > 10 * (big / "model.onnx").stat().st_size
    assert sorted(p.name for p in big.iterdir() if p.name.startswith(".")) == []  # no staging folder left
    modes = {p.name: p.stat().st_mode & 0o777 for p in big.iterdir()}
    assert modes["model.onnx.data"] == modes["model.onnx"] == modes["tokenizer.json"]  # not onnx's 0600
    np.testing.assert_allclose(Predictor(big, "fp32", threads=1).predict_proba(QUERIES),
                               Predictor(ensemble, "fp32", threads=1).predict_proba(QUERIES), atol=1e-6)
    np.testing.assert_allclose(Predictor(big, "int8", threads=1).predict_proba(QUERIES),
                               Predictor(ensemble, "int8", threads=1).predict_proba(QUERIES), atol=1e-6)
    with open(big / "model.int8.onnx.data", "r+b") as handle:  # a flipped byte in the weights is caught
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ServingError, match=r"model\.int8\.onnx\.data: SHA-256 differs"):
        Predictor(big, "int8", threads=1)


def test_an_unchanged_export_is_reused_and_any_change_is_named(members: list[Path], ensemble: Path,
                                                             tmp_path: Path) -> None:
    """A re-run of 05 keeps the export while members, options, description and files are unchanged; each
    change is named, so the tier re-exports."""
    options, description = ExportOptions(include_pytorch=False, max_length=32), {"teacher_set": "tiny"}
    assert ensemble_export_stale_reason(members, ensemble, options, description) is None
    assert "max_length" in ensemble_export_stale_reason(members, ensemble, ExportOptions(include_pytorch=False,
                                                                                         max_length=16), description)
    assert "teacher_set" in ensemble_export_stale_reason(members, ensemble, options, {"teacher_set": "other"})
    assert "members" in ensemble_export_stale_reason(members[:2], ensemble, options, description)
    assert ensemble_export_stale_reason(members, tmp_path / "none", options, description) == "no export yet"
    copy = tmp_path / "copy"
    shutil.copytree(ensemble, copy)
    assert ensemble_export_stale_reason(members, copy, options, description) is None
    with open(copy / "model.int8.onnx", "r+b") as handle:
        handle.seek(-1, 2)
        byte = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert ensemble_export_stale_reason(members, copy, options, description) == \
        "model.int8.onnx differs from its recorded SHA-256"
