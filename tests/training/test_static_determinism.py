"""The static student is the same bytes on any CPU and thread count.

Each variant runs the real distillation (Model2Vec, the session's tiny DistilBERT), the head's cross-validation
and its predictions in a fresh process with another thread count and other CPU code paths: torch's vectorised
kernels (``ATEN_CPU_CAPABILITY``), MKL's and oneDNN's instruction sets, OpenBLAS's core type and numpy's SIMD
dispatch (``NPY_DISABLE_CPU_FEATURES``; a name this numpy does not know only warns), which are
what differs between an AVX2 and an AVX-512 machine. The encoder weights, the head and the predictions must
have the same SHA-256 in every variant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ambig_lib.core import paths

SCRIPT = r"""
import hashlib, json, os, sys
from pathlib import Path
import torch
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.training.static_student import StaticConfig, static_run_dir, write_static_predictions
base, out = sys.argv[1], Path(sys.argv[2])
config = StaticConfig(base=base, pca_dims=16, cs=(0.1, 1.0, 10.0), cv_folds=3)
written = write_static_predictions("seed/gpt-4.1", {"clariq": load_eval_set("clariq")}, 0, config)
run = static_run_dir("seed/gpt-4.1", 0, config)
summary = json.loads((run / "static_summary.json").read_text())
sha = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()
out.write_text(json.dumps({"encoder": summary["encoder_sha256"], "head": sha(run / "head.npz"),
                           "predictions": sha(written["clariq"]), "best_c": summary["best_c"],
                           "cv": summary["cv_selection"]["scores"], "threads": torch.get_num_threads()}))
"""

#: (name, environment) of each variant; the thread count goes to torch, OpenMP, MKL and OpenBLAS.
VARIANTS: dict[str, dict[str, str]] = {
    "1 thread, this CPU's kernels": {"OMP_NUM_THREADS": "1"},
    "2 threads, generic kernels": {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default",
                                   "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41",
                                   "OPENBLAS_CORETYPE": "Nehalem",
                                   "NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4 X86_V3"},
}


def _run(variant: dict[str, str], base: Path, folder: Path) -> dict:
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "ONEDNN_", "OPENBLAS_", "ATEN_", "NPY_"))}
    threads = variant["OMP_NUM_THREADS"]
    env.update(variant, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               AMBIG_MODEL_CACHE=str(folder / "models"), AMBIG_RUNS_DIR=str(folder / "runs"),
               PYTHONPATH=os.pathsep.join(p for p in (str(paths.REPO_ROOT), env.get("PYTHONPATH", "")) if p))
    out = folder / "result.json"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(base), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_static_student_is_identical_under_other_threads_and_cpu_code_paths(tiny_distilbert: Path,
                                                                          tmp_path: Path) -> None:
    results = {name: _run(env, tiny_distilbert, tmp_path / f"v{i}") for i, (name, env) in enumerate(VARIANTS.items())}
    assert [r["threads"] for r in results.values()] == [1, 2]  # the variants really ran with those threads
    first = next(iter(results.values()))
    for name, result in results.items():
        for key in ("encoder", "head", "predictions", "best_c", "cv"):
            assert result[key] == first[key], f"{key} differs under {name!r}: {result[key]} vs {first[key]}"

