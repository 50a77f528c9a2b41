"""The latency harness: real queries, the measurements' arithmetic, table columns, provenance, figures.

No test asserts a speed: timings come from scripts/bench_latency.py. These check that what is measured is
what the table says.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.compare.latency import (
    LATENCY_COLUMNS,
    LatencyConfig,
    LatencyError,
    SystemSpec,
    benchmark_queries,
    cold_start_s,
    load_system,
    ratios,
    run_latency_study,
    student_specs,
    time_batch1,
    time_throughput,
    write_latency_tables,
)
from ambig_lib.compare.plots import write_latency_figures
from ambig_lib.data.benchmarks import load_eval_set


def test_benchmark_queries_are_real_seeded_and_bounded() -> None:
    pool = set(load_eval_set("clariq")["initial_request"]) | set(load_eval_set("ambignq")["initial_request"])
    first = benchmark_queries(1000, seed=0)
    assert len(first) == 1000 and set(first) <= pool
    assert first == benchmark_queries(1000, seed=0)
    assert first != benchmark_queries(1000, seed=1)
    assert len(benchmark_queries()) == 2301
    with pytest.raises(LatencyError, match="hold 2301"):
        benchmark_queries(5000)


def test_time_batch1_measures_each_call() -> None:
    calls: list[str] = []

    def sleepy(query: str) -> None:
        calls.append(query)
        time.sleep(0.002)

    samples = time_batch1(sleepy, ["a", "b", "c"], warmup=4)
    assert len(calls) == 7  # 4 warm-up calls, then one per query
    assert samples.shape == (3,)
    assert (samples >= 2.0).all() and (samples < 200).all()


def test_time_throughput_counts_queries_per_second() -> None:
    sizes: list[int] = []

    def batch(items: list[str]) -> None:
        sizes.append(len(items))
        time.sleep(0.01)

    qps, times = time_throughput(batch, [str(i) for i in range(50)], batch_size=16, warmup_batches=1)
    assert sizes == [16, 16, 16, 16, 2]  # one warm-up batch, then 4 batches cover 50 queries
    assert len(times) == 4
    assert qps == pytest.approx(50 / (times.sum() / 1e3), rel=0.2)
    with pytest.raises(LatencyError):
        time_throughput(batch, ["x"], batch_size=0)


def test_study_rows_have_columns_percentiles_and_provenance(dev_export: Path, tmp_path: Path) -> None:
    specs = student_specs(dev_export, threads=1, variants=("onnx_int8",))
    config = LatencyConfig(n_queries=120, warmup=10, batch_sizes=(8, 64), cold_start=True)
    table, samples = run_latency_study(specs, config)
    assert list(table.columns[: len(LATENCY_COLUMNS)]) == LATENCY_COLUMNS
    assert table["batch_size"].tolist() == [1, 8, 64]
    b1 = table.iloc[0]
    assert b1["p50_ms"] <= b1["p95_ms"] <= b1["p99_ms"]
    assert b1["p50_ms"] == pytest.approx(np.percentile(samples["ms"], 50))
    assert b1["throughput_qps"] == pytest.approx(1000 / samples["ms"].mean())
    assert len(samples) == 120 and (samples["ms"] > 0).all()
    assert (table["cold_start_s"] > 0).all() and table["cold_start_s"].nunique() == 1
    for column in ("cpu", "logical_cores", "version_onnxruntime", "version_torch", "threads", "load_average_1m"):
        assert table[column].notna().all(), column
    assert (table["threads"] == 1).all()
    written = write_latency_tables(table, samples, tmp_path)
    assert pd.read_csv(written["csv"])["batch_size"].tolist() == [1, 8, 64]
    quality = pd.DataFrame({"system": ["student", "student"], "variant": ["onnx_int8", "onnx_int8"],
                            "dataset": ["clariq", "ambignq"], "macro_f1": [0.5, 0.45], "roc_auc": [0.6, 0.55]})
    figures = write_latency_figures(table, samples, quality, tmp_path)
    assert set(figures) == {"latency_batch1_distribution", "latency_throughput", "latency_quality"}
    assert all(p.stat().st_size > 5000 for p in figures.values())


def test_pytorch_system_answers_like_the_onnx_one(dev_export: Path) -> None:
    torch_system = load_system(SystemSpec("student", "pytorch_fp32", str(dev_export)))
    onnx_system = load_system(SystemSpec("student", "onnx_fp32", str(dev_export)))
    query = "what is the best laptop"
    assert torch_system.predict_one(query).probability == pytest.approx(
        onnx_system.predict_one(query).probability, abs=1e-3)


def test_cold_start_runs_in_a_fresh_process(dev_export: Path) -> None:
    seconds = cold_start_s(SystemSpec("student", "onnx_int8", str(dev_export)), "what is java")
    assert 0 < seconds < 120
    with pytest.raises(LatencyError, match="cold start of student/onnx_int8 failed"):
        cold_start_s(SystemSpec("student", "onnx_int8", str(dev_export / "missing")), "what is java")


def test_unknown_systems_are_rejected(dev_export: Path) -> None:
    with pytest.raises(LatencyError, match="Unknown student variant"):
        load_system(SystemSpec("student", "onnx_fp16", str(dev_export)))
    with pytest.raises(LatencyError, match="Unknown system"):
        load_system(SystemSpec("gpt", "x", "y"))


def test_ratios_divide_llm_by_student() -> None:
    table = pd.DataFrame([
        {"system": "student", "variant": "onnx_int8", "threads": 1, "batch_size": 1, "p50_ms": 1.0, "mean_ms": 1.2,
         "model": "m"},
        {"system": "student", "variant": "onnx_int8", "threads": 1, "batch_size": 32, "p50_ms": 9.0, "mean_ms": 0.3,
         "model": "m"},
        {"system": "llm_direct", "variant": "zero_shot", "threads": 2, "batch_size": 1, "p50_ms": 450.0,
         "mean_ms": 480.0, "model": "qwen"},
        {"system": "static_student", "variant": "onnx_int8", "threads": 1, "batch_size": 1, "p50_ms": 0.2,
         "mean_ms": 0.25, "model": "s"},
    ])
    out = ratios(table).set_index("student")
    assert len(out) == 2
    assert out.loc["student onnx_int8 (1 thr)", "p50_ratio"] == pytest.approx(450.0)
    assert out.loc["student onnx_int8 (1 thr)", "mean_ratio"] == pytest.approx(400.0)
    assert out.loc["static_student onnx_int8 (1 thr)", "p50_ratio"] == pytest.approx(2250.0)
