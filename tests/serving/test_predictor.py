"""ONNX export and the predictor: agreement with PyTorch on every evaluation query, batching, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from serving_student import exported_dir

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_file
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.serving.export import export_onnx
from ambig_lib.serving.layout import EXPORT_META, VARIANT_FILES, ServingError, read_export_meta
from ambig_lib.serving.predictor import Prediction, Predictor, TorchPredictor, agreement
from ambig_lib.serving.quality import quality_table


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported_dir(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def eval_queries() -> tuple[list[str], np.ndarray]:
    frames = [load_eval_set("clariq"), load_eval_set("ambignq")]
    queries = [q for f in frames for q in f["initial_request"].astype(str)]
    labels = np.concatenate([f["binary_label"].to_numpy() for f in frames])
    return queries, labels


@pytest.fixture(scope="module")
def probabilities(model_dir: Path, eval_queries: tuple[list[str], np.ndarray]) -> dict[str, np.ndarray]:
    queries, _ = eval_queries
    return {
        "pytorch_fp32": TorchPredictor(model_dir, threads=2).predict_proba(queries),
        "onnx_fp32": Predictor(model_dir, "fp32", threads=2).predict_proba(queries),
        "onnx_int8": Predictor(model_dir, "int8", threads=2).predict_proba(queries),
    }


def test_export_writes_graphs_tokenizer_and_checksummed_provenance(model_dir: Path) -> None:
    meta = read_export_meta(model_dir)
    for name in [*VARIANT_FILES.values(), "tokenizer.json"]:
        assert meta["files"][name] == sha256_file(model_dir / name)
    assert meta["label_names"] == ["clear", "ambiguous"]
    assert meta["transformer_fusion"] is True  # BERT graphs are fused by the onnxruntime optimizer
    assert meta["versions"]["onnxruntime"]
    # int8 MatMul weights (the fp32 word-embedding table, 47 MB, is left as is): a clearly smaller graph
    assert (model_dir / VARIANT_FILES["int8"]).stat().st_size < 0.7 * (model_dir / VARIANT_FILES["fp32"]).stat().st_size
    assert meta["quantize_ops"] == ["MatMul", "Attention"] and meta["per_channel"] is True
    assert meta["reduce_range"] is True  # 7-bit weights: no u8 x s8 saturation on CPUs without VNNI
    assert (model_dir / "pytorch" / "config.json").is_file()


def test_student_is_not_trivial(probabilities: dict[str, np.ndarray]) -> None:
    """Agreement means something only if the student predicts both classes with spread-out probabilities."""
    p = probabilities["pytorch_fp32"]
    assert 0.05 < (p >= 0.5).mean() < 0.95
    assert p.std() > 0.05


def test_onnx_fp32_matches_pytorch_on_every_eval_query(probabilities: dict[str, np.ndarray]) -> None:
    result = agreement(probabilities["pytorch_fp32"], probabilities["onnx_fp32"])
    assert result["n"] == 2301
    assert result["label_agreement"] >= 0.999
    assert result["max_abs_diff"] < 1e-3


def test_onnx_int8_tracks_the_fp32_model(probabilities: dict[str, np.ndarray]) -> None:
    """Invariants of quantisation (the agreement rate itself is reported in 05's serving_quality table and by
    scripts/bench_latency.py, not asserted here): int8 keeps the ranking and beats any constant answer."""
    reference, int8 = probabilities["pytorch_fp32"], probabilities["onnx_int8"]
    result = agreement(reference, int8)
    constant = max((reference >= 0.5).mean(), (reference < 0.5).mean())
    assert result["label_agreement"] > constant
    assert np.corrcoef(reference, int8)[0, 1] > 0.9
    assert result["mean_abs_diff"] < np.abs(reference - reference.mean()).mean()  # closer than a constant


def test_one_query_gets_one_answer_whatever_its_batch(model_dir: Path, eval_queries: tuple[list[str], np.ndarray],
                                                      probabilities: dict[str, np.ndarray]) -> None:
    """Dynamic int8 quantisation scales activations per batch: a ClariQ query used to move by up to 0.3 (and
    flip its label) between batch 1 and batch 64. Over real queries of mixed length, the largest move between
    a query alone and inside a batch must be small against the quantisation error itself (measured here)."""
    queries = eval_queries[0][::6]  # 384 ClariQ + AmbigNQ queries, batched with their real neighbours
    quantisation_error = np.abs(probabilities["onnx_int8"] - probabilities["onnx_fp32"]).mean()
    tolerance = 0.1 * quantisation_error
    for variant in ("fp32", "int8"):
        predictor = Predictor(model_dir, variant, threads=2, batch_size=64)
        batched = predictor.predict_proba(queries)
        alone = np.array([predictor.predict_one(q).probability for q in queries])
        assert np.abs(batched - alone).max() <= tolerance, variant
    assert Predictor(model_dir, "int8").one_query_per_call and not Predictor(model_dir, "fp32").one_query_per_call


def test_quality_table_reports_int8_next_to_fp32(model_dir: Path, probabilities: dict[str, np.ndarray]) -> None:
    table = quality_table(model_dir, ("clariq", "ambignq"), probabilities=probabilities)
    assert set(table["variant"]) == {"pytorch_fp32", "onnx_fp32", "onnx_int8"}
    assert set(table["dataset"]) == {"clariq", "ambignq", "all"}
    assert table.loc[table["dataset"] == "all", "n"].eq(2301).all()
    by = table.set_index(["variant", "dataset"])
    for dataset in ("clariq", "ambignq"):
        assert abs(by.loc[("onnx_int8", dataset), "macro_f1"] - by.loc[("onnx_fp32", dataset), "macro_f1"]) < 0.03
        assert abs(by.loc[("onnx_int8", dataset), "roc_auc"] - by.loc[("onnx_fp32", dataset), "roc_auc"]) < 0.03
    assert by.loc[("pytorch_fp32", "all"), "label_agreement_vs_reference"] == 1.0


def test_batch1_path_equals_padded_batches(model_dir: Path, eval_queries: tuple[list[str], np.ndarray]) -> None:
    """Dynamic padding must not change the answer: the attention mask hides the pad tokens."""
    queries = eval_queries[0][:40]
    predictor = Predictor(model_dir, "fp32", batch_size=16)
    one = np.array([predictor.predict_one(q).probability for q in queries])
    np.testing.assert_allclose(one, predictor.predict_proba(queries), atol=2e-4)


def test_predict_keeps_input_order_and_returns_label_probability(model_dir: Path,
                                                                  eval_queries: tuple[list[str], np.ndarray]) -> None:
    queries = eval_queries[0][:30]
    predictor = Predictor(model_dir, "fp32", batch_size=7)
    forward = predictor.predict(queries)
    backward = predictor.predict(queries[::-1])
    assert all(isinstance(p, Prediction) for p in forward)
    assert [p.probability for p in forward] == pytest.approx([p.probability for p in backward[::-1]], abs=1e-6)
    assert all(p.label == int(p.probability >= 0.5) for p in forward)
    label, probability = forward[0]
    assert label in (0, 1) and 0.0 < probability < 1.0


def test_long_queries_are_truncated_to_max_length(model_dir: Path) -> None:
    predictor = Predictor(model_dir, "fp32")
    long = " ".join(["which"] * 500)
    assert predictor.predict([long, "short query"])[0].probability == pytest.approx(
        predictor.predict_one(long).probability, abs=2e-4)


@pytest.mark.parametrize("bad, message", [("one string", "list of queries"), (["ok", "  "], "query 1 is empty"),
                                          (["ok", 3], "query 1 is int"), (["ok", "\x00\x00"], "query 1 is empty"),
                                          (["\u200b\x07"], "query 0 is empty")])
def test_bad_queries_get_clear_errors(model_dir: Path, bad: object, message: str) -> None:
    with pytest.raises(ServingError, match=message):
        Predictor(model_dir, "int8").predict(bad)  # type: ignore[arg-type]


def test_bad_model_dirs_and_options_get_clear_errors(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="does not exist"):
        Predictor(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ServingError, match="PyTorch checkpoint: export it first"):
        Predictor(tmp_path)
    with pytest.raises(ServingError, match="Unknown variant"):
        Predictor(model_dir, "fp16")
    with pytest.raises(ServingError, match="threads must be"):
        Predictor(model_dir, threads=0)
    with pytest.raises(ServingError, match="no config.json"):
        export_onnx(tmp_path / "missing", tmp_path / "out")


def test_export_meta_is_json_with_source(model_dir: Path) -> None:
    meta = json.loads((model_dir / EXPORT_META).read_text())
    assert not Path(meta["source_model"]).is_absolute()  # named portably (cache:..., no path of this machine)
    assert paths.from_portable(meta["source_model"]).is_dir()
    assert meta["input_names"][:2] == ["input_ids", "attention_mask"]


def _copy_export(model_dir: Path, target: Path) -> Path:
    """The int8 graph, tokenizer and provenance of an export (what ``Predictor(..., "int8")`` reads)."""
    target.mkdir()
    for name in (VARIANT_FILES["int8"], "tokenizer.json", EXPORT_META):
        shutil.copyfile(model_dir / name, target / name)
    return target


def test_loading_checks_files_against_export_json(model_dir: Path, tmp_path: Path) -> None:
    """A model file with flipped bytes used to load and answer (exit 0, 23 of 299 ClariQ labels changed)."""
    good = _copy_export(model_dir, tmp_path / "good")
    meta = read_export_meta(good)
    assert meta["sizes"][VARIANT_FILES["int8"]] == (good / VARIANT_FILES["int8"]).stat().st_size
    flipped = _copy_export(model_dir, tmp_path / "flipped")
    graph = flipped / VARIANT_FILES["int8"]
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash notices
    graph.write_bytes(bytes(data))
    with pytest.raises(ServingError, match=r"model\.int8\.onnx: SHA-256 differs from the one in export\.json"):
        Predictor(flipped, "int8")
    Predictor(flipped, "int8", verify=False)  # the opt-out for hot paths keeps the cheap size check only
    truncated = _copy_export(model_dir, tmp_path / "truncated")
    (truncated / VARIANT_FILES["int8"]).write_bytes(data[: len(data) // 3])
    with pytest.raises(ServingError, match=r"has \d+ bytes, export\.json records \d+: the file is truncated"):
        Predictor(truncated, "int8", verify=False)
    tokenizer = _copy_export(model_dir, tmp_path / "tokenizer")
    (tokenizer / "tokenizer.json").write_text((good / "tokenizer.json").read_text().replace('"', "'", 3))
    with pytest.raises(ServingError, match=r"tokenizer\.json: SHA-256 differs"):
        Predictor(tokenizer, "int8")


def test_broken_export_files_are_clear_errors(model_dir: Path, tmp_path: Path) -> None:
    meta_broken = _copy_export(model_dir, tmp_path / "meta")
    (meta_broken / EXPORT_META).write_text('{"files": ')
    with pytest.raises(ServingError, match=r"export\.json is not valid JSON"):
        Predictor(meta_broken)
    (meta_broken / EXPORT_META).write_text('{"files": {}}')
    with pytest.raises(ServingError, match=r"export\.json lacks input_names, max_length"):
        Predictor(meta_broken)
    no_tokenizer = _copy_export(model_dir, tmp_path / "no-tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(ServingError, match=r"no-tokenizer/tokenizer\.json is missing"):
        Predictor(no_tokenizer, "int8")
    legacy = _copy_export(model_dir, tmp_path / "legacy")  # an export made before sizes were recorded
    meta = read_export_meta(legacy)
    del meta["sizes"]
    (legacy / EXPORT_META).write_text(json.dumps(meta))
    (legacy / VARIANT_FILES["int8"]).write_bytes(b"")
    with pytest.raises(ServingError, match=r"model\.int8\.onnx is not a loadable ONNX graph"):
        Predictor(legacy, "int8", verify=False)


def test_truncated_queries_are_reported(model_dir: Path) -> None:
    predictor = Predictor(model_dir, "fp32")
    assert predictor.truncated(["short query", " ".join(["which"] * 100), "x"]) == [1]
