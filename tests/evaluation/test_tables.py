"""The results tables and figures, built from real baseline predictions in an isolated runs/ and results/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.core.features import length_features
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.evaluation.metrics import EvaluationError
from ambig_lib.evaluation.report import merge_rows, write_tables
from ambig_lib.evaluation.tables import TABLE_COLUMNS, evaluation_table, load_aligned_predictions, roc_sources
from ambig_lib.runs import run_dir, write_predictions
from ambig_lib.training.baselines import fit_length_only, fit_tfidf_lr, write_sklearn_baselines
from ambig_lib.training.finetune import TrainingError

DATASETS = ["clariq", "ambignq"]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("AMBIG_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path


def test_sklearn_baselines_learn_the_synthetic_set():
    frame = load_teacher_set("seed/gpt-4.1")
    texts, y = frame["initial_request"].tolist(), frame["binary_label"].to_numpy()
    tfidf = fit_tfidf_lr(texts, y)
    assert (tfidf.predict(texts) == y).mean() > 0.9  # the synthetic classes are easy to separate
    assert length_features(["two words", "x"]).tolist() == [[2, 9], [1, 1]]
    length = fit_length_only(texts, y)
    assert 0.5 < (length.predict(texts) == y).mean() <= 1.0
    with pytest.raises(TrainingError, match="single class"):
        fit_tfidf_lr(["a", "b"], [1, 1])


def test_table_markdown_side_by_side_and_figures(isolated: Path):
    from ambig_lib.evaluation.plots import write_eval_figures

    eval_sets = {name: load_eval_set(name) for name in DATASETS}
    write_sklearn_baselines("seed/gpt-4.1", load_teacher_set("seed/gpt-4.1"), eval_sets)
    # file a real model's predictions as a fine-tuned run of student "tfidf-as-student" (two seeds)
    model = fit_tfidf_lr(load_teacher_set("seed/gpt-4.1")["initial_request"],
                         load_teacher_set("seed/gpt-4.1")["binary_label"])
    for seed in (0, 1):
        for name, data in eval_sets.items():
            prob = model.predict_proba(data["initial_request"])[:, 1] ** (1 + seed)
            write_predictions(run_dir("tfidf-as-student", "seed/gpt-4.1", seed) / f"predictions_{name}.tsv",
                              data["initial_request"], data["binary_label"], prob)
    table, per_class = evaluation_table(["tfidf-as-student"], ["seed/gpt-4.1"], [0, 1], DATASETS, n_resamples=200)
    assert list(table.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    assert sorted(table["method"].unique()) == ["constant_all_ambiguous", "finetuned", "length_only", "tfidf_lr"]
    const = table[(table.method == "constant_all_ambiguous") & (table.dataset == "clariq")].iloc[0]
    assert const["weighted_f1"] == pytest.approx(0.818, abs=6e-4) and const["roc_auc"] == 0.5
    tuned = table[(table.method == "finetuned") & (table.dataset == "ambignq")].iloc[0]
    assert tuned["seeds"] == "0;1" and tuned["teacher"] == "GPT-4.1" and tuned["macro_f1_std"] >= 0
    assert tuned["macro_f1_ci_low"] <= tuned["macro_f1"] <= tuned["macro_f1_ci_high"]
    tfidf = table[(table.method == "tfidf_lr") & (table.dataset == "ambignq")].iloc[0]
    assert tfidf["roc_auc"] > 0.5  # same model family as seed 0 of the filed run
    seed0 = load_aligned_predictions(run_dir("tfidf-as-student", "seed/gpt-4.1", 0) / "predictions_ambignq.tsv",
                                     eval_sets["ambignq"])
    assert np.allclose(seed0, model.predict_proba(eval_sets["ambignq"]["initial_request"])[:, 1], atol=1e-6)
    assert set(per_class["class"]) == {"clear", "ambiguous"}

    written = write_tables(table, per_class)
    assert pd.read_csv(written["csv"]).shape[0] == len(table)
    assert "### clariq (n = 299)" in written["md"].read_text()
    side = pd.read_csv(written["vs_published_csv"])
    const_side = side[(side.method == "constant_all_ambiguous") & (side.dataset == "clariq")].iloc[0]
    assert abs(const_side["weighted_f1_diff"]) < 1e-3 and abs(const_side["macro_f1_diff"]) < 1e-3
    tuned_side = side[(side.method == "finetuned") & (side.dataset == "clariq")]
    assert tuned_side.empty  # "tfidf-as-student" has no published counterpart

    # LLM-direct rows (written by 05) survive a rebuild of the table by 04 and show in the Markdown
    llm_row = {**const.to_dict(), "method": "llm_direct_zero_shot", "student": "qwen-x", "notes": "0 unparseable"}
    pd.concat([pd.read_csv(written["csv"]), pd.DataFrame([llm_row])]).to_csv(written["csv"], index=False)
    rewritten = write_tables(table, per_class)
    again = pd.read_csv(rewritten["csv"])
    assert len(again) == len(table) + 1 and (again["method"] == "llm_direct_zero_shot").sum() == 1
    assert "| llm_direct_zero_shot | qwen-x |" in rewritten["md"].read_text()
    # 05's merge renders the very same Markdown as 04 (both from the CSV as written)
    rendered_by_04 = rewritten["md"].read_text()
    merge_rows(pd.DataFrame([llm_row]), rewritten["csv"])
    assert rewritten["md"].read_text() == rendered_by_04
    assert len(pd.read_csv(write_tables(table, per_class, carry_over=False)["csv"])) == len(table)

    curves = {d: roc_sources(table, d) for d in DATASETS}
    assert any(k.startswith("finetuned tfidf-as-student / GPT-4.1 (seed 0)") for k in curves["clariq"])
    figures = write_eval_figures(table, curves, DATASETS)
    assert len(figures) == 6 and all(f.stat().st_size > 5000 for f in figures)


def test_predictions_must_match_the_evaluation_set(isolated: Path):
    data = load_eval_set("clariq")
    path = isolated / "p.tsv"
    write_predictions(path, data["initial_request"][::-1], data["binary_label"][::-1], np.ones(len(data)))
    with pytest.raises(EvaluationError, match="does not match"):
        load_aligned_predictions(path, data)


def test_requested_run_without_predictions_is_an_error(isolated: Path):
    """seeds=[7] or a student typo such as ``minlm`` must not give a table silently missing those rows."""
    data = {name: load_eval_set(name) for name in DATASETS}
    for name, frame in data.items():
        write_predictions(run_dir("minilm", "seed/gpt-4.1", 0) / f"predictions_{name}.tsv", frame["initial_request"],
                          frame["binary_label"], np.full(len(frame), 0.6))
    table, _ = evaluation_table(["minilm"], ["seed/gpt-4.1"], [0], DATASETS, n_resamples=20)
    assert (table["method"] == "finetuned").sum() == 2
    # CLAMBER joined after most runs were trained: a run without its predictions is left out of its rows only
    with_clamber, _ = evaluation_table(["minilm"], ["seed/gpt-4.1"], [0], [*DATASETS, "clamber"], n_resamples=20)
    assert sorted(with_clamber.loc[with_clamber["method"] == "finetuned", "dataset"]) == ["ambignq", "clariq"]
    assert (with_clamber["dataset"] == "clamber").sum() == 1  # the constant classifier
    clamber = load_eval_set("clamber")
    write_predictions(run_dir("minilm", "seed/gpt-4.1", 0) / "predictions_clamber.tsv", clamber["initial_request"],
                      clamber["binary_label"], np.linspace(0, 1, len(clamber)))
    with_clamber, _ = evaluation_table(["minilm"], ["seed/gpt-4.1"], [0], [*DATASETS, "clamber"], n_resamples=20)
    assert (with_clamber["method"] == "finetuned").sum() == 3
    with pytest.raises(EvaluationError, match=r"minilm / seed/gpt-4.1 / seed 7 .*ambig train --students minilm "
                                              r"--teachers seed/gpt-4.1 --seeds 7"):
        evaluation_table(["minilm"], ["seed/gpt-4.1"], [0, 7], DATASETS, n_resamples=20)
    with pytest.raises(EvaluationError, match="minlm / seed/gpt-4.1 / seed 0"):
        evaluation_table(["minlm"], ["seed/gpt-4.1"], [0], DATASETS, n_resamples=20)
    with pytest.raises(EvaluationError, match="no predictions for ambignq"):
        (run_dir("minilm", "seed/gpt-4.1", 0) / "predictions_ambignq.tsv").unlink()
        evaluation_table(["minilm"], ["seed/gpt-4.1"], [0], DATASETS, n_resamples=20)


def test_published_numbers_ship_with_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A clone with no ``../shared`` beside it still compares with the published study."""
    import ambig_lib
    from ambig_lib.compare.plots import published_points
    from ambig_lib.core import paths
    from ambig_lib.evaluation.tables import compare_with_published

    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "elsewhere" / "clone")
    source = paths.published_results_file()
    assert source.is_file() and source.parent == Path(ambig_lib.__file__).resolve().parent / "resources"
    assert "Source:" in (source.parent / "seed_reported_results.SOURCE.md").read_text()
    ours = pd.DataFrame([{"method": "constant_all_ambiguous", "student": "", "teacher": "", "dataset": "clariq",
                          "seeds": "", "weighted_precision": 0.768, "weighted_recall": 0.876, "weighted_f1": 0.818,
                          "macro_f1": 0.467}])
    side = compare_with_published(ours)
    assert len(side) == 1 and side["weighted_f1_theirs"].iloc[0] == pytest.approx(0.818)
    assert len(published_points()) > 0
