"""Latency harness: the students (transformer: eager PyTorch, ONNX fp32, ONNX int8; static: ONNX fp32, int8)
against LLM-direct, measured the same way.

Per system and thread count:

* batch 1, tokenisation included: p50 / p95 / p99 over at least 1000 real ClariQ + AmbigNQ queries after a
  warm-up (every per-query time is kept for the distribution figure);
* throughput at batch 32 and 256: the caller sends batches of that many queries (each call tokenises,
  length-sorts and pads dynamically), queries per second over the whole query list;
* cold start: a fresh Python process imports, loads and answers one query (interpreter start excluded).

Every row records threads, hardware, library versions and the load average when it was measured (this machine
may be shared; a high load average means noisy numbers). Results go to ``results/tables/latency.csv``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ambig_lib.compare.llm_direct import build_direct_teacher, build_request, few_shot_examples, parse_answer
from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import write_text_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.serving.predictor import load_predictor

STUDENT_VARIANTS: tuple[str, ...] = ("pytorch_fp32", "onnx_fp32", "onnx_int8")
#: Systems served by ``serving.load_predictor`` from an exported directory.
#: ``student``: the deployed fold model; ``static_student``: the static tier on hard labels; ``teacher_ensemble``:
#: the fold ensemble in one graph; ``small_transformer`` / ``static_distilled``: the tiers distilled from it.
STUDENT_SYSTEMS: tuple[str, ...] = ("student", "static_student", "teacher_ensemble", "small_transformer",
                                    "static_distilled")
_PREDICTOR_VARIANT = {"pytorch_fp32": "pytorch", "onnx_fp32": "fp32", "onnx_int8": "int8"}
LATENCY_COLUMNS = ["system", "variant", "device", "threads", "batch_size", "n_queries", "p50_ms", "p95_ms",
                   "p99_ms", "mean_ms", "throughput_qps", "cold_start_s"]
DEFAULT_BATCH_SIZES: tuple[int, ...] = (32, 256)


class LatencyError(AmbigError):
    """A latency measurement was asked for with impossible settings."""


@dataclass(frozen=True)
class SystemSpec:
    """One system: ``student`` / ``static_student`` (``model`` = exported dir) or ``llm_direct`` (teacher name)."""

    system: str
    variant: str
    model: str
    device: str = "cpu"
    threads: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class LoadedSystem:
    """A ready system: answer one query, answer a batch (None when batching is not offered), release."""

    spec: SystemSpec
    predict_one: Callable[[str], Any]
    predict_batch: Callable[[list[str]], Any] | None
    set_batch_size: Callable[[int], None] | None = None


def student_specs(model_dir: str | os.PathLike[str], threads: int = 1, device: str = "cpu",
                  variants: Sequence[str] = STUDENT_VARIANTS, system: str = "student") -> list[SystemSpec]:
    """One spec per variant of an exported directory, named ``system`` (one of ``STUDENT_SYSTEMS``)."""
    if system not in STUDENT_SYSTEMS:
        raise LatencyError(f"Unknown student system {system!r}; choose one of {STUDENT_SYSTEMS}.")
    return [SystemSpec(system, v, str(model_dir), device, threads) for v in variants]


def llm_spec(teacher: str = "qwen2.5-coder-1.5b", mode: str = "zero_shot", threads: int = 2) -> SystemSpec:
    return SystemSpec("llm_direct", mode, teacher, "cpu", threads)


def load_system(spec: SystemSpec) -> LoadedSystem:
    """Build what ``spec`` names (no response cache for LLMs: every call reaches the model)."""
    if spec.system in STUDENT_SYSTEMS:
        if spec.variant not in _PREDICTOR_VARIANT:
            raise LatencyError(f"Unknown student variant {spec.variant!r}; choose one of {STUDENT_VARIANTS}.")
        predictor = load_predictor(spec.model, _PREDICTOR_VARIANT[spec.variant], threads=spec.threads,
                                   device=spec.device)

        def set_batch_size(size: int) -> None:
            predictor.batch_size = size

        return LoadedSystem(spec, predictor.predict_one, predictor.predict, set_batch_size)
    if spec.system == "llm_direct":
        teacher = build_direct_teacher(spec.model, n_threads=spec.threads, progress=False)
        examples = few_shot_examples() if spec.variant == "few_shot" else ()

        def ask(query: str) -> bool | None:
            response = teacher.complete([build_request(query, spec.variant, examples, logprobs=None)])[0]
            return parse_answer(response.text)

        return LoadedSystem(spec, ask, None)
    raise LatencyError(f"Unknown system {spec.system!r}; choose one of {(*STUDENT_SYSTEMS, 'llm_direct')}.")


# -------------------------------------------------------------------------------------------- inputs


def benchmark_queries(n: int | None = None, seed: int = 0) -> list[str]:
    """Real queries: ClariQ (299) + AmbigNQ dev (2002), shuffled with ``seed``; the first ``n`` (all if None)."""
    queries = pd.concat([load_eval_set("clariq"), load_eval_set("ambignq")])["initial_request"].astype(str).tolist()
    rng = np.random.default_rng(seed)
    queries = [queries[i] for i in rng.permutation(len(queries))]
    if n is not None:
        if n > len(queries):
            raise LatencyError(f"asked for {n} queries; ClariQ + AmbigNQ hold {len(queries)}.")
        queries = queries[:n]
    return queries


# ---------------------------------------------------------------------------------------- measurements


def time_batch1(predict_one: Callable[[str], Any], queries: Sequence[str], warmup: int = 50,
                desc: str = "batch 1") -> np.ndarray:
    """Milliseconds per query, one query per call, after ``warmup`` untimed calls (cycled from the list)."""
    if not queries:
        raise LatencyError("no queries to time.")
    for i in range(warmup):
        predict_one(queries[i % len(queries)])
    out = np.empty(len(queries), dtype=np.float64)
    clock = time.perf_counter_ns
    for i, query in enumerate(tqdm(queries, desc=desc, leave=False, mininterval=1.0)):
        start = clock()
        predict_one(query)
        out[i] = (clock() - start) / 1e6
    return out


def time_throughput(predict_batch: Callable[[list[str]], Any], queries: Sequence[str], batch_size: int,
                    warmup_batches: int = 2) -> tuple[float, np.ndarray]:
    """Queries per second sending batches of ``batch_size`` queries, and the ms of each batch call."""
    if batch_size < 1:
        raise LatencyError(f"batch_size must be >= 1, got {batch_size}.")
    items = list(queries)
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    for batch in batches[:warmup_batches]:
        predict_batch(batch)
    times = np.empty(len(batches), dtype=np.float64)
    total_start = time.perf_counter()
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        predict_batch(batch)
        times[i] = (time.perf_counter() - start) * 1e3
    elapsed = time.perf_counter() - total_start
    return len(items) / elapsed, times


_COLD_START_PROGRAM = """
import time
t0 = time.perf_counter()
import json, sys
spec = json.loads(sys.argv[1])
query = sys.argv[2]
if spec["system"] != "llm_direct":
    from ambig_lib.serving.predictor import load_predictor
    v = {"pytorch_fp32": "pytorch", "onnx_fp32": "fp32", "onnx_int8": "int8"}[spec["variant"]]
    load_predictor(spec["model"], v, threads=spec["threads"], device=spec["device"]).predict_one(query)
else:
    from ambig_lib.compare.llm_direct import build_direct_teacher, build_request, few_shot_examples
    teacher = build_direct_teacher(spec["model"], n_threads=spec["threads"], progress=False)
    examples = few_shot_examples() if spec["variant"] == "few_shot" else ()
    teacher.complete([build_request(query, spec["variant"], examples, logprobs=None)])
print("COLD_START_S", time.perf_counter() - t0)
"""


def cold_start_s(spec: SystemSpec, query: str, timeout: float = 600.0) -> float:
    """Seconds from the first import to the first answer in a fresh Python process (interpreter start excluded)."""
    proc = subprocess.run([sys.executable, "-c", _COLD_START_PROGRAM, spec.to_json(), query], capture_output=True,
                          text=True, timeout=timeout, cwd=paths.REPO_ROOT, env={**os.environ, "TQDM_DISABLE": "1"})
    for line in proc.stdout.splitlines():
        if line.startswith("COLD_START_S "):
            return float(line.split()[1])
    raise LatencyError(f"cold start of {spec.system}/{spec.variant} failed (exit {proc.returncode}): "
                       f"{proc.stderr.strip()[-800:]}")


# ------------------------------------------------------------------------------------------ provenance


def hardware_info() -> dict[str, Any]:
    """CPU model, logical cores, memory, OS, GPU (when torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "memory_gb": memory_gb,
            "os": f"{platform.system()} {platform.release()}", "gpu": gpu}


def provenance() -> dict[str, Any]:
    """Hardware and versions, flattened for one table row."""
    info = hardware_info()
    info.update({f"version_{k}": v for k, v in software_versions().items()})
    return info


def _load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


# -------------------------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class LatencyConfig:
    """How much to measure: queries at batch 1, warm-up calls, batch sizes, whether to time cold start."""

    n_queries: int = 1000
    warmup: int = 50
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    cold_start: bool = True
    seed: int = 0
    llm_queries: int = 50
    llm_warmup: int = 2


def measure_system(spec: SystemSpec, queries: Sequence[str], config: LatencyConfig
                   ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Rows (batch 1 and each batch size) for one system and its per-query batch-1 times in ms."""
    is_llm = spec.system == "llm_direct"
    batch1 = list(queries[: config.llm_queries] if is_llm else queries)
    loaded = load_system(spec)
    load_before = _load_average()
    samples = time_batch1(loaded.predict_one, batch1, config.llm_warmup if is_llm else config.warmup,
                          desc=f"{spec.system}/{spec.variant} batch 1")
    cold = cold_start_s(spec, batch1[0]) if config.cold_start else float("nan")
    base = {"system": spec.system, "variant": spec.variant, "device": spec.device, "threads": spec.threads,
            "model": paths.portable_path(spec.model), "load_average_1m": load_before, "warmup": config.llm_warmup if is_llm else config.warmup,
            "seed": config.seed}
    rows = [{**base, "batch_size": 1, "n_queries": len(samples), "p50_ms": float(np.percentile(samples, 50)),
             "p95_ms": float(np.percentile(samples, 95)), "p99_ms": float(np.percentile(samples, 99)),
             "mean_ms": float(samples.mean()), "throughput_qps": 1000.0 / float(samples.mean()),
             "cold_start_s": cold}]
    if loaded.predict_batch is not None and loaded.set_batch_size is not None:
        for size in config.batch_sizes:
            loaded.set_batch_size(size)
            qps, times = time_throughput(loaded.predict_batch, queries, size)
            per_query = times / size
            rows.append({**base, "batch_size": size, "n_queries": len(queries),
                         "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
                         "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(per_query.mean()),
                         "throughput_qps": qps, "cold_start_s": cold})
    return rows, samples


def run_latency_study(specs: Sequence[SystemSpec], config: LatencyConfig = LatencyConfig(),
                      queries: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure every system in turn; returns ``(table, samples)``.

    ``table`` has one row per system and batch size (``p*_ms`` of a batch row are per batch call;
    ``mean_ms`` is per query). ``samples`` holds every batch-1 time (system, variant, threads, ms).
    """
    queries = list(queries) if queries is not None else benchmark_queries(config.n_queries, config.seed)
    if len(queries) < 1:
        raise LatencyError("no queries.")
    prov = provenance()
    rows: list[dict[str, Any]] = []
    sample_frames: list[pd.DataFrame] = []
    for spec in tqdm(specs, desc="latency systems"):
        system_rows, samples = measure_system(spec, queries, config)
        rows.extend({**r, **prov, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")} for r in system_rows)
        sample_frames.append(pd.DataFrame({"system": spec.system, "variant": spec.variant, "device": spec.device,
                                           "threads": spec.threads, "ms": samples}))
    table = pd.DataFrame(rows)
    table = table.reindex(columns=LATENCY_COLUMNS + [c for c in table.columns if c not in LATENCY_COLUMNS])
    return table, pd.concat(sample_frames, ignore_index=True)


def write_latency_tables(table: pd.DataFrame, samples: pd.DataFrame | None = None,
                         out_dir: Path | None = None) -> dict[str, Path]:
    """Write ``latency.csv`` (and ``latency_samples.csv`` with every batch-1 time) atomically."""
    out_dir = Path(out_dir) if out_dir is not None else paths.tables_dir()
    written = {"csv": out_dir / "latency.csv"}
    write_text_atomic(written["csv"], table.to_csv(index=False, float_format="%.4f"))
    if samples is not None:
        written["samples"] = out_dir / "latency_samples.csv"
        write_text_atomic(written["samples"], samples.to_csv(index=False, float_format="%.4f"))
    return written


def ratios(table: pd.DataFrame, student_variant: str = "onnx_int8") -> pd.DataFrame:
    """LLM-direct / student ratios of batch-1 p50 and mean, per LLM variant, student system and thread count."""
    b1 = table[table["batch_size"] == 1]
    students = b1[b1["system"].isin(STUDENT_SYSTEMS) & (b1["variant"] == student_variant)]
    llms = b1[b1["system"] == "llm_direct"]
    rows = []
    for _, student in students.iterrows():
        for _, llm in llms.iterrows():
            rows.append({"student": f"{student['system']} {student_variant} ({student['threads']} thr)",
                         "llm": f"{llm['model']} {llm['variant']} ({llm['threads']} thr)",
                         "student_p50_ms": student["p50_ms"], "llm_p50_ms": llm["p50_ms"],
                         "p50_ratio": llm["p50_ms"] / student["p50_ms"],
                         "mean_ratio": llm["mean_ms"] / student["mean_ms"]})
    return pd.DataFrame(rows)
