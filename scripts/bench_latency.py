"""Latency benchmark: the exported students (PyTorch, ONNX fp32, ONNX int8) and optionally LLM-direct, one run.

    python scripts/bench_latency.py --model-dir EXPORTED_DIR [--static-dir STATIC_EXPORT_DIR]
        [--llm qwen2.5-coder-1.5b --llm-queries 50] [--threads 1 2] [--queries 1000]
        [--out results/tables/latency.csv] [--no-cold-start]

``--static-dir`` adds the static student (``ambig_lib.serving.static_export``), served by the same predictor.

Prints the latency table, the int8 targets (p50 <= 1.5 ms at batch 1, >= 2000 queries/s batched) and the
LLM / student ratios measured in this same run. Run it on a quiet machine: every row records the load average.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ambig_lib.compare.latency import (
    DEFAULT_BATCH_SIZES,
    STUDENT_SYSTEMS,
    STUDENT_VARIANTS,
    LatencyConfig,
    llm_spec,
    ratios,
    run_latency_study,
    student_specs,
    write_latency_tables,
)
from ambig_lib.core import paths

TARGET_P50_MS = 1.5
TARGET_QPS = 2000.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True, help="directory written by ambig_lib.serving.predictor.export_onnx")
    parser.add_argument("--static-dir", default=None,
                        help="directory written by ambig_lib.serving.static_export.export_static_onnx (the fast tier)")
    parser.add_argument("--variants", nargs="+", default=list(STUDENT_VARIANTS), choices=STUDENT_VARIANTS)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="intra-op thread counts to measure")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cuda: PyTorch on the GPU and onnxruntime-gpu's CUDA provider")
    parser.add_argument("--queries", type=int, default=1000, help="real queries at batch 1 (>= 1000 for the study)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(DEFAULT_BATCH_SIZES))
    parser.add_argument("--llm", default=None, help="teacher name for LLM-direct (e.g. qwen2.5-coder-1.5b)")
    parser.add_argument("--llm-mode", default="zero_shot", choices=("zero_shot", "few_shot"))
    parser.add_argument("--llm-queries", type=int, default=50)
    parser.add_argument("--llm-threads", type=int, default=2)
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--out", default=None, help="latency CSV (default results/tables/latency.csv); "
                                                    "'-' to write nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (Path(args.model_dir) / "export.json").is_file():
        print(f"error: {args.model_dir} is not an exported model directory (no export.json). Export one with "
              "ambig_lib.serving.export.export_onnx(fold_model_dir, out_dir).", file=sys.stderr)
        return 2
    specs = [s for t in args.threads for s in student_specs(args.model_dir, threads=t, device=args.device,
                                                                   variants=args.variants)]
    if args.static_dir:
        specs += [s for t in args.threads for s in student_specs(args.static_dir, threads=t, device=args.device,
                                                                variants=("onnx_fp32", "onnx_int8"),
                                                                system="static_student")]
    if args.llm:
        specs.append(llm_spec(args.llm, args.llm_mode, args.llm_threads))
    config = LatencyConfig(n_queries=args.queries, warmup=args.warmup, batch_sizes=tuple(args.batch_sizes),
                           cold_start=not args.no_cold_start, llm_queries=args.llm_queries)
    table, samples = run_latency_study(specs, config)
    if args.out != "-":
        out = Path(args.out) if args.out else paths.tables_dir() / "latency.csv"
        write_latency_tables(table, samples, out.parent)
        print(f"wrote {out.parent / 'latency.csv'} and latency_samples.csv")
    show = ["system", "variant", "threads", "batch_size", "n_queries", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
            "throughput_qps", "cold_start_s"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(table[show].to_string(index=False))
        print(f"\nhardware: {table['cpu'].iloc[0]}, {table['logical_cores'].iloc[0]} logical cores; "
              f"load average (1 min) during the run: {table['load_average_1m'].min()}-{table['load_average_1m'].max()}")
        for system in STUDENT_SYSTEMS:
            int8 = table[(table["system"] == system) & (table["variant"] == "onnx_int8")]
            if not len(int8):
                continue
            best_p50 = int8.loc[int8["batch_size"] == 1, "p50_ms"].min()
            best_qps = int8.loc[int8["batch_size"] > 1, "throughput_qps"].max()
            print(f"int8 {system}: best p50 at batch 1 = {best_p50:.3f} ms (target <= {TARGET_P50_MS}: "
                  f"{'met' if best_p50 <= TARGET_P50_MS else 'NOT met'}); best batched throughput = "
                  f"{best_qps:.0f} q/s (target >= {TARGET_QPS:.0f}: {'met' if best_qps >= TARGET_QPS else 'NOT met'})")
        b1 = table[(table["batch_size"] == 1) & (table["system"] == "student")].set_index(["variant", "threads"])
        if ("pytorch_fp32", 1) in b1.index and ("onnx_int8", 1) in b1.index:
            print(f"speed-up of int8 ONNX over eager PyTorch at batch 1 (1 thread, p50): "
                  f"{b1.loc[('pytorch_fp32', 1), 'p50_ms'] / b1.loc[('onnx_int8', 1), 'p50_ms']:.1f}x")
        rat = ratios(table)
        if len(rat):
            print("\nLLM-direct / student (batch 1, same run):")
            print(rat.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
