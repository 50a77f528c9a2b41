"""The tier table (which tier to use when): gaps to the served ensemble, the distillation targets, and the
Pareto front of quality against cost."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.compare.plots import pareto_front, write_latency_figures
from ambig_lib.compare.tiers import tier_table

DATASETS = ("clariq", "ambignq", "clamber")


def _latency() -> pd.DataFrame:
    rows = []
    for system, variant, p50, qps in (("teacher_ensemble", "onnx_int8", 17.0, 60.0),
                                      ("small_transformer", "onnx_int8", 1.5, 700.0),
                                      ("static_distilled", "onnx_int8", 0.12, 30000.0),
                                      ("static_student", "onnx_int8", 0.11, 31000.0),
                                      ("llm_direct", "zero_shot", 700.0, 1.4)):
        threads = 2 if system == "llm_direct" else 1
        rows.append({"system": system, "variant": variant, "threads": threads, "batch_size": 1, "p50_ms": p50,
                     "throughput_qps": 1000.0 / p50})
        rows.append({"system": system, "variant": variant, "threads": 2, "batch_size": 1, "p50_ms": p50 / 2,
                     "throughput_qps": 2000.0 / p50})
        if system != "llm_direct":
            rows.append({"system": system, "variant": variant, "threads": 1, "batch_size": 256, "p50_ms": np.nan,
                         "throughput_qps": qps})
    return pd.DataFrame(rows)


def _quality() -> pd.DataFrame:
    auc = {"teacher_ensemble": (0.70, 0.52, 0.56), "small_transformer": (0.69, 0.51, 0.55),
           "static_distilled": (0.66, 0.53, 0.60), "static_student": (0.56, 0.53, 0.53),
           "llm_direct": (0.60, 0.50, np.nan)}
    variants = {"llm_direct": "zero_shot"}
    return pd.DataFrame([{"system": s, "variant": variants.get(s, "onnx_int8"), "dataset": d, "roc_auc": a,
                          "macro_f1": 0.5} for s, values in auc.items() for d, a in zip(DATASETS, values, strict=True)
                         if not np.isnan(a)])


def test_tier_table_gaps_and_targets() -> None:
    table = tier_table(_latency(), _quality()).set_index("system")
    assert list(table.index) == ["teacher_ensemble", "small_transformer", "static_distilled", "static_student",
                                 "llm_direct"]
    assert table.loc["small_transformer", "p50_ms"] == 1.5  # 1 thread, batch 1
    assert table.loc["static_distilled", "throughput_qps"] == 30000.0  # best batch size
    assert table.loc["llm_direct", "threads"] == 2
    assert table.loc["small_transformer", "gap_clariq"] == pytest.approx(-0.01)
    assert table.loc["static_distilled", "gap_clariq"] == pytest.approx(-0.04)
    # the small transformer is within 0.02 everywhere and under 2 ms; the static tier misses ClariQ by 0.04 > 0.03
    assert table["meets_targets"].tolist() == [None, True, False, None, None]
    assert np.isnan(table.loc["llm_direct", "roc_auc_clamber"])


def test_pareto_front_keeps_only_non_dominated_points() -> None:
    cost = np.array([17.0, 1.5, 0.12, 0.11, 700.0, 2.0])
    quality = np.array([0.70, 0.69, 0.66, 0.56, 0.60, 0.65])
    assert pareto_front(cost, quality).tolist() == [3, 2, 1, 0]
    assert pareto_front(-cost, quality, lower_cost_is_better=False).tolist() == [3, 2, 1, 0]
    assert pareto_front(np.array([1.0, np.nan]), np.array([0.5, 0.9])).tolist() == [0]


def test_the_pareto_figure_is_written(tmp_path: Path) -> None:
    latency = _latency()
    written = write_latency_figures(latency, None, _quality(), tmp_path, tiers=tier_table(latency, _quality()))
    assert written["tiers_pareto"].is_file() and written["tiers_pareto"].stat().st_size > 10_000


def test_findings_say_how_each_tier_compares_with_the_served_ensemble() -> None:
    from ambig_lib.study.findings import latency_findings

    latency = _latency()
    text = " ".join(latency_findings(latency, _quality(), tier_table(latency, _quality())).sentences)
    assert "The served teacher ensemble answers in 17" in text
    assert "The small transformer answers in 1.5" in text and "clariq -0.010" in text
    assert "it meets the targets" in text and "it misses the targets" in text


def test_the_ensembles_reference_is_computed_once_per_members_and_queries(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The PyTorch ensemble over the benchmarks (minutes for five mpnet folds) is cached beside the export and
    recomputed when a member's weights or the queries change. ``ensemble_soft_labels`` is replaced by a counter:
    its own behaviour is tested in tests/training."""
    from ambig_lib.compare import tiers

    calls: list[list[str]] = []

    def fake_ensemble(queries, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(list(queries))
        return np.linspace(0.1, 0.9, len(queries)) + 0.01 * len(calls)

    monkeypatch.setattr(tiers, "ensemble_soft_labels", fake_ensemble)
    folds = []
    for k in range(2):
        folder = tmp_path / f"fold_{k}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(bytes([k]) * 64)
        folds.append(folder)
    export = tmp_path / "export"
    queries = ["what is java", "how tall is the eiffel tower", "apple"]
    first = tiers.cached_ensemble_reference(queries, folds, export, "mpnet", "seed/gpt-4.1", [0])
    again = tiers.cached_ensemble_reference(queries, folds, export, "mpnet", "seed/gpt-4.1", [0])
    assert len(calls) == 1 and np.array_equal(first, again)
    np.testing.assert_allclose(first, [0.11, 0.51, 0.91])
    tiers.cached_ensemble_reference(queries[:2], folds, export, "mpnet", "seed/gpt-4.1", [0])
    assert len(calls) == 2  # other queries
    (folds[1] / "model.safetensors").write_bytes(b"retrained" * 8)
    changed = tiers.cached_ensemble_reference(queries, folds, export, "mpnet", "seed/gpt-4.1", [0])
    assert len(calls) == 3 and not np.array_equal(changed, first)  # a member's weights changed


def test_the_small_tier_trains_one_run_per_candidate_and_serves_the_one_that_agrees_best(tmp_path: Path) -> None:
    from isolation import folders_in
    from soft_label_fixtures import rule_soft_labels

    from ambig_lib.compare.tiers import _small_tier, small_candidate_config
    from ambig_lib.training.distilled_transformer import SmallTransformerConfig, distilled_transformer_run_dir

    labels = rule_soft_labels(tmp_path / "pool")
    config = SmallTransformerConfig(layers=(1,), epochs=1, learning_rate=3e-4, batch_size=16, torch_threads=1,
                                    init="base")
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        model_dir, note = _small_tier(labels, config, ("soft_ce", "logit_mse"), 0, False)
        runs = {loss: distilled_transformer_run_dir("rule", "seed/gpt-4.1", 0, replace(config, loss=loss))
                for loss in ("soft_ce", "logit_mse")}
        summaries = {loss: json.loads((run / "distilled_summary.json").read_text(encoding="utf-8"))
                     for loss, run in runs.items()}
        assert summaries["logit_mse"]["loss"].startswith("squared error to the teacher's log-odds")
        assert summaries["soft_ce"]["loss"].startswith("cross-entropy")
        best = max(summaries, key=lambda loss: (summaries[loss]["holdout_agreement"]["roc_auc_vs_teacher_hard"],
                                                -summaries[loss]["holdout_agreement"]["mean_abs_diff"]))
        assert note["chosen"] == best
        assert model_dir == runs[best] / "model"
        for loss in summaries:
            assert note[f"agreement ({loss})"] == round(
                summaries[loss]["holdout_agreement"]["roc_auc_vs_teacher_hard"], 4)
        with pytest.raises(ValueError, match="No small-transformer candidate"):
            _small_tier(labels, config, (), 0, False)
    assert small_candidate_config(config, "logit_mse+augmented").augmented == 10_000
    assert small_candidate_config(config, "soft_ce") == config
    assert small_candidate_config(config, "soft_ce+augmented20000").augmented == 20_000
    for bad in ("soft_ce+augmented0", "soft_ce+augmentedx", "soft_ce+"):
        with pytest.raises(ValueError, match="Unknown small-transformer candidate"):
            small_candidate_config(config, bad)
    with pytest.raises(ValueError, match=r"Unknown small-transformer candidate 'hinge'\. Fix: <loss>,"):
        small_candidate_config(config, "hinge")
    with pytest.raises(ValueError, match="Unknown small-transformer candidate 'soft_ce\\+noise'"):
        small_candidate_config(config, "soft_ce+noise")


def test_a_fresh_clone_retrains_the_best_recorded_candidate_first_and_only_those_that_could_beat_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from isolation import folders_in
    from soft_label_fixtures import rule_soft_labels

    from ambig_lib.compare import tiers
    from ambig_lib.training.distilled_transformer import SmallTransformerConfig, distilled_transformer_run_dir

    labels = rule_soft_labels(tmp_path / "pool")
    config = SmallTransformerConfig(layers=(1,), epochs=1, learning_rate=3e-4, batch_size=16, torch_threads=1,
                                    init="base")
    names = ("soft_ce", "logit_mse")
    calls: list[str] = []
    real_train = tiers.train_distilled_transformer

    def counted(labels_, candidate, seed, train_if_missing=False):  # noqa: ANN001, ANN202
        calls.append(candidate.loss)
        return real_train(labels_, candidate, seed, train_if_missing=train_if_missing)

    monkeypatch.setattr(tiers, "train_distilled_transformer", counted)
    with folders_in(tmp_path, "AMBIG_RUNS_DIR"):
        runs = {loss: distilled_transformer_run_dir("rule", "seed/gpt-4.1", 0, replace(config, loss=loss))
                for loss in names}
        _, first = tiers._small_tier(labels, config, names, 0, False)
        assert sorted(calls) == sorted(names)  # nothing recorded: every candidate is trained
        winner = first["chosen"]
        loser = next(name for name in names if name != winner)

        def summary(name: str) -> dict:
            return json.loads((runs[name] / "distilled_summary.json").read_text(encoding="utf-8"))

        recorded = {name: summary(name) for name in names}
        for run in runs.values():  # a fresh clone: the summaries are committed, the weights are not
            shutil.rmtree(run / "model")
        calls.clear()
        model_dir, again = tiers._small_tier(labels, config, names, 0, False)
        assert calls == [winner] and model_dir == runs[winner] / "model"
        assert again["chosen"] == winner
        assert again[f"agreement ({winner})"] == first[f"agreement ({winner})"]  # the same run, retrained
        assert again[f"agreement ({loser})"] == (f"{first[f'agreement ({loser})']} (recorded run; not retrained, "
                                                 "it cannot win)")
        assert not (runs[loser] / "model").exists() and summary(loser) == recorded[loser]

        # A recorded run that agrees better than the best trained here must be trained: it could win.
        better = {**recorded[loser], "holdout_agreement": {**recorded[loser]["holdout_agreement"],
                                                           "roc_auc_vs_teacher_hard": 1.0, "mean_abs_diff": 0.0}}
        (runs[loser] / "distilled_summary.json").write_text(json.dumps(better), encoding="utf-8")
        calls.clear()
        _, third = tiers._small_tier(labels, config, names, 0, False)
        assert calls == [loser, winner]  # the best record first: retrained, it falls back; the winner is reused
        assert summary(loser)["holdout_agreement"] == recorded[loser]["holdout_agreement"]
        assert third["chosen"] == winner

        # A summary of another recipe is no record of this one: the candidate is trained.
        other = {**recorded[loser], "fingerprint": {**recorded[loser]["fingerprint"], "n_rows": 1}}
        (runs[loser] / "distilled_summary.json").write_text(json.dumps(other), encoding="utf-8")
        shutil.rmtree(runs[loser] / "model")
        calls.clear()
        tiers._small_tier(labels, config, names, 0, False)
        assert calls == [loser, winner] or calls == [winner, loser]
        assert (runs[loser] / "model" / "config.json").is_file()


def test_a_runs_recipe_ignores_only_the_hash_of_its_initial_weights() -> None:
    from ambig_lib.training.distilled_transformer import recipe

    fingerprint = {"config": {"loss": "soft_ce"}, "soft_labels_sha256": "a",
                   "initial_weights": {"init": "fine-tuned", "model_dir": "runs/minilm/seed/gpt-4.1/0/fold_0",
                                       "weights_sha256": "1"}}
    retrained = {**fingerprint, "initial_weights": {**fingerprint["initial_weights"], "weights_sha256": "2"}}
    assert recipe(retrained) == recipe(fingerprint) and retrained != fingerprint
    assert recipe({**fingerprint, "soft_labels_sha256": "b"}) != recipe(fingerprint)
    moved = {**fingerprint, "initial_weights": {**fingerprint["initial_weights"], "model_dir": "elsewhere"}}
    assert recipe(moved) != recipe(fingerprint)


def test_the_cli_names_the_libraries_small_candidates_without_importing_torch() -> None:
    import argparse

    from ambig_lib.cli.distil import SMALL_CANDIDATE_DEFAULT, small_candidate
    from ambig_lib.compare.tiers import SMALL_CANDIDATES, small_candidate_config
    from ambig_lib.training.distilled_transformer import SmallTransformerConfig

    assert SMALL_CANDIDATE_DEFAULT == SMALL_CANDIDATES
    for name in (*SMALL_CANDIDATES, "logit_mse+augmented", "soft_ce+augmented20000"):
        assert small_candidate(name) == name
        small_candidate_config(SmallTransformerConfig(), name)  # the library takes what the CLI lets through
    for bad in ("hinge", "soft_ce+augmented0", "soft_ce+", "soft_ce+noise", "soft_ce+augmented20000x"):
        with pytest.raises(argparse.ArgumentTypeError, match="Fix: soft_ce or logit_mse"):
            small_candidate(bad)
        with pytest.raises(ValueError):
            small_candidate_config(SmallTransformerConfig(), bad)
