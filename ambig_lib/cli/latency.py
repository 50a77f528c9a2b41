"""Time an exported student (batch 1, throughput, cold start).

``ambig latency``: time an exported student the way the study does (notebook 05).

Per variant (eager PyTorch, ONNX fp32, ONNX int8): batch-1 p50 / p95 / p99 over real ClariQ + AmbigNQ queries
after a warm-up (tokenisation included), throughput at each ``--batch-sizes``, and the cold start of a fresh
process. The table is printed; ``--out-dir`` also writes ``latency.csv`` and ``latency_samples.csv`` there (the
study's own tables are written by notebook 05). Numbers depend on the machine and its load: each row records
threads, hardware, versions and the load average.

Example::

    ambig latency exports/minilm-gpt-4.1 --queries 200 --variants onnx_int8 --no-cold-start
    ambig latency exports/minilm-gpt-4.1 --threads 2 --out-dir /tmp/latency
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ambig_lib.cli.common import add_threads, positive_int
from ambig_lib.compare.latency import (
    DEFAULT_BATCH_SIZES,
    LATENCY_COLUMNS,
    STUDENT_SYSTEMS,
    STUDENT_VARIANTS,
    LatencyConfig,
    run_latency_study,
    student_specs,
    write_latency_tables,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="a directory written by ambig export")
    parser.add_argument("--system", choices=STUDENT_SYSTEMS, default="student",
                        help="student (transformer export) or static_student (static export)")
    parser.add_argument("--variants", nargs="+", choices=STUDENT_VARIANTS, default=list(STUDENT_VARIANTS))
    parser.add_argument("--queries", type=positive_int, default=LatencyConfig.n_queries,
                        help="real queries timed at batch 1 (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=LatencyConfig.warmup, help="default: %(default)s")
    parser.add_argument("--batch-sizes", nargs="*", type=positive_int, default=list(DEFAULT_BATCH_SIZES),
                        help="throughput batch sizes (default: %(default)s; none: give the flag alone)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the fresh-process cold start")
    parser.add_argument("--seed", type=int, default=LatencyConfig.seed, help="query shuffle (default: %(default)s)")
    add_threads(parser, "CPU threads of the predictor (default: 1)", default=1)
    parser.add_argument("--out-dir", type=Path, default=None, help="write latency.csv and latency_samples.csv here")


def run(args: argparse.Namespace) -> int:
    """Measure every variant and print the table."""
    specs = student_specs(args.model_dir, threads=args.threads, variants=args.variants, system=args.system)
    config = LatencyConfig(n_queries=args.queries, warmup=args.warmup, batch_sizes=tuple(args.batch_sizes),
                           cold_start=not args.no_cold_start, seed=args.seed)
    table, samples = run_latency_study(specs, config)
    print(table[[c for c in LATENCY_COLUMNS if c in table.columns]].round(4).to_string(index=False))
    if args.out_dir is not None:
        for path in write_latency_tables(table, samples, args.out_dir).values():
            print(f"wrote {path}")
    return 0
