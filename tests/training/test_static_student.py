"""The static student (fast tier): real Model2Vec distillation of a tiny encoder, CV-selected head, ONNX export.

The encoder is the session's randomly initialised 2-layer DistilBERT (the full minilm distillation takes about a
minute and is exercised by notebook 05); the head is trained on the real seed/gpt-4.1 teacher set and checked
on every ClariQ + AmbigNQ query.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from isolation import folders_in

from ambig_lib.compare.latency import SystemSpec, cold_start_s, load_system, student_specs
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.serving.layout import EXPORT_META, VARIANT_FILES, read_export_meta
from ambig_lib.serving.predictor import Prediction, Predictor
from ambig_lib.serving.quality import evaluation_queries, quality_table
from ambig_lib.serving.static_export import export_static_onnx
from ambig_lib.training.static_student import (
    HEAD_FILE,
    SUMMARY_FILE,
    StaticConfig,
    StaticStudent,
    StaticStudentError,
    load_static_encoder,
    static_label,
    static_run_dir,
    train_static_student,
    write_static_predictions,
)

TEACHER = "seed/gpt-4.1"


@pytest.fixture(scope="module")
def config(tiny_distilbert: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticConfig]:
    with folders_in(tmp_path_factory.mktemp("static"), "AMBIG_MODEL_CACHE", "AMBIG_RUNS_DIR"):
        yield StaticConfig(base=str(tiny_distilbert), pca_dims=16, cs=(0.1, 1.0, 10.0), cv_folds=3)


@pytest.fixture(scope="module")
def student(config: StaticConfig) -> StaticStudent:
    return train_static_student(TEACHER, seed=0, config=config)


@pytest.fixture(scope="module")
def exported(student: StaticStudent, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_static_onnx(student, tmp_path_factory.mktemp("static-export"))


@pytest.fixture(scope="module")
def queries() -> list[str]:
    return evaluation_queries(("clariq", "ambignq"))


def test_head_is_chosen_by_topic_grouped_cv_on_the_teacher_set(student: StaticStudent, config: StaticConfig) -> None:
    summary = student.summary
    selection = summary["cv_selection"]
    assert selection["grouped_by"] == "topic" and selection["folds"] == 3
    assert set(selection["scores"]) == {repr(c) for c in config.cs}
    assert summary["best_c"] == max(config.cs, key=lambda c: (selection["scores"][repr(c)], -c))
    assert 0.5 < selection["scores"][repr(summary["best_c"])] <= 1.0  # better than chance on held-out topics
    assert summary["n_rows"] == 1000 and student.coef.shape == (16,)
    run = static_run_dir(TEACHER, 0, config)
    assert (run / SUMMARY_FILE).is_file() and (run / HEAD_FILE).is_file()


def test_a_trained_head_is_reused_and_retrained_when_the_data_change(student: StaticStudent,
                                                                     config: StaticConfig) -> None:
    head = static_run_dir(TEACHER, 0, config) / HEAD_FILE
    before = head.stat().st_mtime_ns
    again = train_static_student(TEACHER, seed=0, config=config)
    assert head.stat().st_mtime_ns == before
    np.testing.assert_array_equal(again.coef, student.coef)
    fewer = load_teacher_set(TEACHER).iloc[:600]
    retrained = train_static_student(TEACHER, seed=0, config=config, frame=fewer)
    assert retrained.summary["n_rows"] == 600 and head.stat().st_mtime_ns != before
    train_static_student(TEACHER, seed=0, config=config)  # restore the full-set head for the other tests


def test_one_class_teacher_set_is_refused(config: StaticConfig) -> None:
    frame = load_teacher_set(TEACHER)
    with pytest.raises(StaticStudentError, match="one class"):
        train_static_student(TEACHER, seed=1, config=config, frame=frame[frame["binary_label"] == 1])


def test_export_agrees_with_the_model2vec_reference_on_every_evaluation_query(
        student: StaticStudent, exported: Path, queries: list[str]) -> None:
    meta = read_export_meta(exported)
    assert meta["kind"] == "static" and meta["quantize_ops"] == ["Gather"]  # weights only: batch-independent
    assert meta["head"]["best_c"] == student.summary["best_c"]
    reference = student.predict_proba(queries)
    bound = float32_error_bound(student, queries)
    for threads, optimisation in ((1, "ORT_ENABLE_ALL"), (2, "ORT_ENABLE_ALL"), (1, "ORT_DISABLE_ALL")):
        fp32 = onnx_proba(exported, "fp32", queries, threads, optimisation)
        excess = np.abs(fp32 - reference) / bound
        assert excess.max() <= 1.0, (threads, optimisation, float(np.abs(fp32 - reference).max()))
        assert ((fp32 >= 0.5) == (reference >= 0.5))[bound < np.abs(reference - 0.5)].all()
    batched = Predictor(exported, "int8", threads=2, batch_size=64)
    assert not batched.one_query_per_call  # a weight-only int8 graph is batched
    int8 = batched.predict_proba(queries)
    alone = Predictor(exported, "int8", threads=2, batch_size=1).predict_proba(queries)
    assert np.abs(int8 - alone).max() < 1e-5  # one query, one answer, whatever its batch-mates
    assert np.mean((int8 >= 0.5) == (reference >= 0.5)) >= 0.99
    assert np.abs(int8 - reference).mean() < 0.01
    # the int8 table is about a quarter of the fp32 one
    assert (exported / VARIANT_FILES["int8"]).stat().st_size < 0.4 * (exported / VARIANT_FILES["fp32"]).stat().st_size
    assert (exported / EXPORT_META).is_file()


def float32_error_bound(student: StaticStudent, queries: list[str]) -> np.ndarray:
    """Per query, a bound on |P_onnx_fp32 - P_reference| from float32 rounding (u = 2^-24), not from a machine.

    The graph sums the L token vectors of a query (error <= L u sum_t |v_ti| per dimension), divides by L and by
    the norm (a few u, relative; the norm's sum of d squares adds d/2 u), then takes the dot product with the
    head over d dimensions (error <= d u sum_i |w_i x_i|). With A_i = mean_t |v_ti| and m the exact mean, all of
    it is at most u (L + d + 4) sum_i |w_i| A_i / ||m|| on the score; P = sigmoid(score) moves at most a quarter
    of that. Factor 2 for second-order terms and the float32 softmax of the logits. Any order of summation
    (threads, kernels, graph optimisations) stays inside it.
    """
    encoder = load_static_encoder(student.encoder_dir)
    table = np.asarray(encoder.embedding, dtype=np.float64)
    u, d = 2.0 ** -24, table.shape[1]
    weights = np.abs(student.coef.astype(np.float64))
    bound = np.empty(len(queries))
    for row, ids in enumerate(encoder.tokenize(queries)):
        vectors = table[ids] if ids else np.zeros((1, d))
        mean_norm = max(float(np.linalg.norm(vectors.mean(axis=0))), 1e-12)
        spread = float(np.abs(vectors).mean(axis=0) @ weights) / mean_norm
        bound[row] = 2 * (0.25 * u * ((len(ids) + d + 4) * spread + abs(student.intercept)) + 4 * u)
    return bound


def onnx_proba(exported: Path, variant: str, queries: list[str], threads: int, optimisation: str) -> np.ndarray:
    """Predictor's probabilities with ``threads`` and onnxruntime's graph optimisation level ``optimisation``."""
    import onnxruntime as ort

    predictor = Predictor(exported, variant, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, optimisation)
    predictor._session = ort.InferenceSession(str(exported / VARIANT_FILES[variant]), options,
                                              providers=["CPUExecutionProvider"])
    return predictor.predict_proba(queries)


def test_padding_and_batching_do_not_change_static_predictions(exported: Path, queries: list[str]) -> None:
    sample = queries[:200]
    one_by_one = np.array([Predictor(exported, "fp32").predict_one(q).probability for q in sample[:20]])
    batched = Predictor(exported, "fp32", batch_size=64).predict_proba(sample)
    np.testing.assert_allclose(batched[:20], one_by_one, atol=1e-6)


def test_quality_table_and_latency_harness_serve_the_static_student(student: StaticStudent, exported: Path,
                                                                     queries: list[str]) -> None:
    probabilities = {"reference_fp32": student.predict_proba(queries),
                     "onnx_fp32": Predictor(exported, "fp32", threads=2).predict_proba(queries)}
    table = quality_table(exported, ("clariq", "ambignq"), probabilities=probabilities, reference="reference_fp32",
                          system="static_student")
    assert set(table["system"]) == {"static_student"}
    by = table.set_index(["variant", "dataset"])
    assert by.loc[("onnx_fp32", "all"), "label_agreement_vs_reference"] == 1.0
    assert by.loc[("reference_fp32", "clariq"), "n"] == 299
    specs = student_specs(exported, threads=1, variants=("onnx_int8",), system="static_student")
    loaded = load_system(specs[0])
    answer = loaded.predict_one("how do I get there")
    assert isinstance(answer, Prediction) and 0.0 <= answer.probability <= 1.0
    assert 0 < cold_start_s(specs[0], "what is java") < 120  # a fresh process loads and answers
    with pytest.raises(Exception, match="Unknown student system"):
        student_specs(exported, system="static")
    with pytest.raises(Exception, match="Unknown system"):
        load_system(SystemSpec("nope", "onnx_int8", str(exported)))


def test_static_predictions_enter_the_evaluation_table(student: StaticStudent, config: StaticConfig) -> None:
    from ambig_lib.data.benchmarks import load_eval_set
    from ambig_lib.evaluation.metrics import binary_metrics
    from ambig_lib.evaluation.tables import evaluation_table

    clariq = load_eval_set("clariq")
    written = write_static_predictions(TEACHER, {"clariq": clariq}, 0, config)
    assert written["clariq"] == static_run_dir(TEACHER, 0, config) / "predictions_clariq.tsv"
    table, _ = evaluation_table([], [TEACHER], [0], ["clariq"], n_resamples=50, static_bases=[config.base])
    row = table[table["method"] == "static_student"].iloc[0]
    assert row["student"] == static_label(config) and row["teacher"] == "GPT-4.1" and row["seeds"] == "0"
    expected = binary_metrics(clariq["binary_label"], student.predict_proba(clariq["initial_request"].tolist()))
    assert row["roc_auc"] == pytest.approx(expected["roc_auc"], abs=1e-4)
    assert row["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-4)
