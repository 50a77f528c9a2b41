"""The transfer table's fine-tuned rows (read from run predictions), its wide form, the choice rule and targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ambig_lib.evaluation import transfer
from ambig_lib.evaluation.metrics import EvaluationError
from ambig_lib.evaluation.transfer_choice import choose_student, target_misses
from ambig_lib.runs import run_dir, write_predictions


def _bench(prefix: str, n: int, subclasses: tuple[str, ...] = ()) -> pd.DataFrame:
    labels = [i % 2 for i in range(n)]
    frame = pd.DataFrame({"initial_request": [f"{prefix} query number {i}" + " word" * (i % 3) for i in range(n)],
                          "binary_label": labels})
    if subclasses:
        frame["subclass"] = [subclasses[(i // 2) % len(subclasses)] for i in range(n)]
    return frame


@pytest.fixture
def benchmarks() -> dict[str, pd.DataFrame]:
    frames = {"clariq": _bench("c", 12), "ambignq": _bench("a", 12), "clamber": _bench("m", 16, ("NK", "polysemy")),
              "ambignq_train_dev": _bench("d", 10)}
    for sub in ("NK", "polysemy"):
        frames[f"clamber:{sub}"] = frames["clamber"][frames["clamber"]["subclass"] == sub].reset_index(drop=True)
    return frames


def _write_run(student: str, name: str, seed: int, benchmarks: dict[str, pd.DataFrame], flip: set[str]) -> None:
    """Predictions that rank perfectly (probability = label), or exactly backwards on the sets in ``flip``."""
    folder = run_dir(student, name, seed)
    for bench, data in benchmarks.items():
        if ":" in bench:
            continue
        y = data["binary_label"].to_numpy()
        prob = np.where(y == 1, 0.9, 0.1) if bench not in flip else np.where(y == 1, 0.2, 0.7)
        if bench == "clamber":  # the polysemy half is backwards, NK is perfect
            prob = np.where(data["subclass"] == "polysemy", 1 - prob, prob)
        write_predictions(folder / f"predictions_{bench}.tsv", data["initial_request"], y, prob)


def test_finetuned_rows_mean_over_the_seeds_that_predicted_every_benchmark(benchmarks, tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path))
    _write_run("minilm", "strategy/x", 0, benchmarks, flip=set())
    _write_run("minilm", "strategy/x", 1, benchmarks, flip={"ambignq"})
    (run_dir("minilm", "strategy/x", 2)).mkdir(parents=True)  # an unfinished seed: no predictions
    write_predictions(run_dir("minilm", "strategy/x", 2) / "predictions_clariq.tsv",
                      benchmarks["clariq"]["initial_request"], benchmarks["clariq"]["binary_label"],
                      np.full(12, 0.5))
    predictions, seeds = transfer.finetuned_predictions("minilm", "strategy/x", (0, 1, 2), benchmarks)
    assert seeds == [0, 1]
    rows = pd.DataFrame(transfer.score_finetuned("strategy/x", predictions, "minilm", n_resamples=50))
    by_bench = rows.set_index("benchmark")
    assert (rows["method"] == "finetuned_minilm").all() and (rows["seeds"] == 2).all()
    assert by_bench.at["clariq", "roc_auc"] == pytest.approx(1.0)
    assert by_bench.at["ambignq", "roc_auc"] == pytest.approx(0.5)  # seed 0 perfect, seed 1 backwards
    assert by_bench.at["clamber:NK", "roc_auc"] == pytest.approx(1.0)
    assert by_bench.at["clamber:polysemy", "roc_auc"] == pytest.approx(0.0)
    assert by_bench.at["clamber:NK", "n"] == 8
    assert by_bench.at["clariq", "roc_auc_low"] <= 1.0 and by_bench.at["ambignq", "roc_auc_high"] >= 0.5

    assert transfer.finetuned_predictions("mpnet", "strategy/x", (0, 1, 2), benchmarks) == (None, [])


def test_finetuned_predictions_refuse_a_stale_run(benchmarks, tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path))
    _write_run("minilm", "strategy/x", 0, benchmarks, flip=set())
    changed = dict(benchmarks)
    changed["ambignq"] = benchmarks["ambignq"].assign(initial_request=lambda f: f["initial_request"] + "?")
    with pytest.raises(EvaluationError, match=r"predictions_ambignq\.tsv.*--datasets transfer --no-resume"):
        transfer.finetuned_predictions("minilm", "strategy/x", (0,), changed)


def _wide_row(name: str, method: str, dev: float, aucs: dict[str, float], length: float = 0.55,
              lc: float = 0.65) -> list[dict[str, object]]:
    rows = []
    for bench in ("clariq", "ambignq", "clamber", "ambignq_train_dev"):
        auc = dev if bench == "ambignq_train_dev" else aucs[bench]
        base = {"train_set": name, "benchmark": bench, "n": 10, "roc_auc_low": auc - 0.05,
                "roc_auc_high": auc + 0.05, "macro_f1": 0.5, "macro_f1_low": 0.4, "macro_f1_high": 0.6,
                "lc_coverage": 0.9}
        rows.append({**base, "method": method, "roc_auc": auc, "lc_roc_auc": lc,
                     "seeds": 3 if method.startswith("finetuned") else np.nan})
        if method.startswith("probe"):
            rows.append({**base, "method": "length_only", "roc_auc": length, "lc_roc_auc": 0.5})
    return rows


def test_choice_reads_only_the_dev_slice_prefers_fine_tuned_rows_and_skips_controls():
    good = {"clariq": 0.9, "ambignq": 0.7, "clamber": 0.8}
    poor = {"clariq": 0.6, "ambignq": 0.5, "clamber": 0.55}
    long = pd.DataFrame(_wide_row("strategy/a", "probe_minilm", 0.9, good)
                        + _wide_row("strategy/a", "finetuned_minilm", 0.6, poor)
                        + _wide_row("strategy/b", "probe_minilm", 0.5, poor)
                        + _wide_row("strategy/b", "finetuned_minilm", 0.7, good)
                        + _wide_row("strategy/b-control", "probe_minilm", 0.5, poor)
                        + _wide_row("strategy/b-control", "finetuned_minilm", 0.95, good))
    wide = transfer.wide_table(long)
    assert len(wide) == 6 and set(wide["student"]) == {"probe minilm", "minilm fine-tuned"}
    row = wide[(wide["train_set"] == "strategy/b") & (wide["method"] == "finetuned_minilm")].iloc[0]
    assert row["mean_3 roc_auc"] == pytest.approx(0.8) and row["clariq length_only"] == pytest.approx(0.55)
    assert row["seeds"] == 3
    chosen = choose_student(wide)
    assert (chosen["train_set"], chosen["method"]) == ("strategy/b", "finetuned_minilm")
    assert target_misses(chosen) == []
    poor_row = wide[(wide["train_set"] == "strategy/a") & (wide["method"] == "finetuned_minilm")].iloc[0]
    misses = target_misses(poor_row)
    assert "clariq ROC-AUC 0.600 < 0.85" in misses and "ambignq only -0.050 over length alone (< +0.05)" in misses
    markdown = transfer.markdown_table(wide.assign(rows=100, cv_roc_auc=0.9))
    assert "| strategy/b | minilm fine-tuned (3 seeds) | 100 |" in markdown
    assert choose_student(wide[wide["method"] == "probe_minilm"])["train_set"] == "strategy/a"
