"""Re-run the study into a scratch folder and list the committed artefacts that differ.

``ambig reproduce`` (the command line is :mod:`ambig_lib.cli.reproduce`) copies what is committed under ``results/``, ``runs/`` and ``data/`` (the
version in ``HEAD``) into a scratch folder, runs the notebooks there with papermill (``AMBIG_RESULTS_DIR``,
``AMBIG_RUNS_DIR``, ``AMBIG_SYNTHETIC_DIR`` and ``AMBIG_LLM_DIRECT_DIR`` point into it; the model and data
caches are shared), and compares every committed file with what the run left in its place. The checkout is
never written to.

What may change between machines is declared here and nowhere else:

- ``MACHINE_FILES``: whole files whose content measures time or the machine (latency tables and figures,
  the latency notebook, the ONNX agreement table whose int8 kernels differ by CPU);
- ``TIMING_KEYS``: JSON keys (at any depth, also in ``.jsonl`` lines and notebook metadata) holding wall
  times, timestamps, thread counts, devices and software versions;
- ``TIMING_PATTERNS``: the same fields where notebook outputs print them (``.ipynb`` outputs, ``.html``).

Everything else must be byte-identical. Exit status: 0 when nothing differs, 1 when something does, 2 for a
usage error.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.study.runner import load_profile

#: Committed folders the study writes (and reads back).
COMMITTED_ROOTS: tuple[str, ...] = ("results", "runs", "data")
#: Environment variables that relocate each committed folder into the scratch run.
RELOCATED: dict[str, str] = {"AMBIG_RESULTS_DIR": "results", "AMBIG_RUNS_DIR": "runs",
                             "AMBIG_SYNTHETIC_DIR": "data/synthetic", "AMBIG_LLM_DIRECT_DIR": "data/llm_direct"}

#: Files whose whole content measures time or the machine (glob patterns, repository-relative).
MACHINE_FILES: tuple[str, ...] = (
    "results/tables/latency.csv",             # latency per system (ms, q/s, cold start, load average, CPU)
    "results/tables/latency_samples.csv",     # every batch-1 time
    "results/figures/latency_*.png",          # figures of the two tables above
    "results/notebooks/05_latency_compare.*", # the latency study itself (its outputs are the tables above)
    "results/tables/serving_quality.csv",     # ONNX vs PyTorch agreement: int8 kernels differ by CPU (VNNI)
    "results/tables/tiers.*",                 # the tier table: p50 and throughput beside quality
    "results/figures/tiers_pareto.png",       # its Pareto figure
    # the distilled tiers are retrained where their (git-ignored) weights are missing: float32 torch training
    # sums in a CPU-dependent order, so their selection history and weight hashes move in the last digits
    "runs/distilled-*/**/distilled_summary.json",
    "runs/static-tuned-*/**/tuned_summary.json",
    "results/notebooks/*.log",                # run logs: timestamps, progress bars, elapsed times
)
#: JSON keys whose values measure time or describe the machine or its software (ignored at any depth).
TIMING_KEYS: frozenset[str] = frozenset({
    # wall times and rates
    "wall_s", "train_wall_s", "model_wall_s", "seconds", "duration", "completion_tokens_per_s",
    "topics_per_min", "this_run",
    # timestamps
    "trained_at", "measured_at", "start_time", "end_time", "iopub.execute_input", "iopub.status.busy",
    "iopub.status.idle", "shell.execute_reply", "execution",
    # the machine and its software
    "device", "torch_threads", "versions", "package_versions", "platform", "load_average_1m",
})
#: Regular expressions for the same fields where notebook outputs print them; each match is blanked.
TIMING_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"""(['"]|&#39;|&quot;)(?:wall_s|train_wall_s|model_wall_s|seconds|completion_tokens_per_s|topics_per_min)"""
    r"""\1:\s*[-0-9.e]+""",
    r"""(['"]|&#39;|&quot;)(?:trained_at|measured_at)\1:\s*(['"]|&#39;|&quot;)[0-9T:-]+\2""",
    r"""\b\d+(?:\.\d+)?\s?(?:s|ms)\b(?= (?:on|wall|elapsed))""",
))


@dataclass(frozen=True)
class Difference:
    """One committed file and how the re-run left it."""

    path: str
    status: str  # "differs", "missing", "timing only", "machine file", "new"
    detail: str = ""


def machine_file(path: str) -> bool:
    """True when ``path`` (repository-relative) is declared to measure time or the machine."""
    return any(fnmatch.fnmatch(path, pattern) for pattern in MACHINE_FILES)


def _drop_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_drop_keys(v) for v in value]
    return value


def _blank(text: str) -> str:
    for pattern in TIMING_PATTERNS:
        text = pattern.sub("<timing>", text)
    return text


def normalise(path: str, data: bytes) -> bytes:
    """``data`` with the declared timing fields removed, for comparison (the file's own format decides how)."""
    suffix = Path(path).suffix
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if suffix in (".json", ".ipynb"):
        try:
            obj = _drop_keys(json.loads(text))
        except json.JSONDecodeError:
            return data
        return _blank(json.dumps(obj, sort_keys=True, ensure_ascii=False)).encode("utf-8")
    if suffix == ".jsonl":
        lines = []
        for line in text.splitlines():
            try:
                lines.append(json.dumps(_drop_keys(json.loads(line)), sort_keys=True, ensure_ascii=False))
            except json.JSONDecodeError:
                lines.append(line)
        return "\n".join(lines).encode("utf-8")
    if suffix in (".html", ".md", ".txt"):
        return _blank(text).encode("utf-8")
    return data


def compare(committed: dict[str, bytes], produced: Path) -> list[Difference]:
    """Compare each committed file with the file at the same relative path under ``produced``."""
    found: list[Difference] = []
    for path, before in sorted(committed.items()):
        target = produced / path
        if not target.is_file():
            found.append(Difference(path, "missing", "the re-run removed it"))
            continue
        after = target.read_bytes()
        if after == before:
            continue
        if machine_file(path):
            found.append(Difference(path, "machine file", "declared in MACHINE_FILES"))
        elif normalise(path, after) == normalise(path, before):
            found.append(Difference(path, "timing only", "differs only in TIMING_KEYS / TIMING_PATTERNS"))
        else:
            found.append(Difference(path, "differs", _first_difference(normalise(path, before),
                                                                      normalise(path, after))))
    return found


def _first_difference(before: bytes, after: bytes, context: int = 60) -> str:
    index = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
                 min(len(before), len(after)))
    start = max(0, index - context // 2)
    snippet = (before[start:index + context // 2].decode("utf-8", "replace"),
               after[start:index + context // 2].decode("utf-8", "replace"))
    return f"at byte {index}: {snippet[0]!r} -> {snippet[1]!r}"


# ------------------------------------------------------------------------------------------------ git


def committed_files(repo: Path = paths.REPO_ROOT, revision: str = "HEAD",
                    roots: Sequence[str] = COMMITTED_ROOTS) -> dict[str, bytes]:
    """Repository-relative path -> bytes of every file committed under ``roots`` at ``revision``."""
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", revision, "--", *roots],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) \
            else str(exc)
        raise ReproduceError(f"cannot read the committed files from git ({detail}); run this in a git checkout.") \
            from exc
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    files[member.name] = handle.read()
    return files


def ignored_by_git(relative: Iterable[str], repo: Path = paths.REPO_ROOT) -> set[str]:
    """The subset of ``relative`` paths that the repository's .gitignore rules ignore."""
    names = list(relative)
    if not names:
        return set()
    result = subprocess.run(["git", "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z"],
                            input="\0".join(names).encode(), capture_output=True)
    return {n for n in result.stdout.decode().split("\0") if n}


class ReproduceError(AmbigError):
    """The reproduction check cannot run as asked (one line for the user)."""


# ----------------------------------------------------------------------------------------------- run


def prepare(scratch: Path, committed: dict[str, bytes]) -> Path:
    """Write the committed files under ``scratch/run`` (the run starts from exactly what is committed)."""
    run = scratch / "run"
    if run.exists():
        shutil.rmtree(run)
    for path, data in committed.items():
        target = run / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for folder in RELOCATED.values():
        (run / folder).mkdir(parents=True, exist_ok=True)
    return run


def run_environment(run: Path) -> dict[str, str]:
    """The environment of the scratch run: outputs relocated into ``run``, caches shared with this checkout."""
    env = dict(os.environ)
    env.update({key: str(run / folder) for key, folder in RELOCATED.items()})
    env["AMBIG_CACHE_DIR"] = str(paths.cache_dir().resolve())
    env["AMBIG_MODEL_CACHE"] = str(paths.model_cache_dir().resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(paths.REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def check_profile(profile: str) -> None:
    """A profile that relocates the committed folders itself (quick) has nothing committed to compare."""
    try:
        prof = load_profile(profile)
    except AmbigError as exc:
        raise ReproduceError(str(exc)) from exc
    clash = sorted(set(prof.env) & set(RELOCATED))
    if clash:
        raise ReproduceError(f"profile {prof.name!r} writes to its own folders ({', '.join(clash)}), which are not "
                             "committed; use a profile whose outputs are committed (default).")


def reproduce(profile: str = "default", only: Sequence[str] | None = None, scratch: Path | None = None,
              runner_args: Sequence[str] = (), stream: Any = sys.stdout) -> tuple[list[Difference], dict[str, Any]]:
    """Run the study into ``scratch`` and compare; returns the differences and a summary."""
    check_profile(profile)
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="ambig-reproduce-"))
    scratch.mkdir(parents=True, exist_ok=True)
    committed = committed_files()
    run = prepare(scratch, committed)
    before = {p: (run / p).stat().st_mtime_ns for p in committed}
    command = [sys.executable, "-m", "ambig_lib", "study", "--profile", profile, *runner_args]
    if only:
        command += ["--only", *only]
    print(f"[reproduce] {len(committed)} committed files copied to {run}", file=stream, flush=True)
    print(f"[reproduce] {' '.join(command[1:])}", file=stream, flush=True)
    started = time.perf_counter()
    status = subprocess.run(command, cwd=paths.REPO_ROOT, env=run_environment(run)).returncode
    seconds = time.perf_counter() - started
    if status != 0:
        raise ReproduceError(f"the study failed (exit {status}); see the output above. Scratch folder: {scratch}")
    rewritten = {p for p, mtime in before.items() if (run / p).is_file() and (run / p).stat().st_mtime_ns != mtime}
    differences = compare(committed, run)
    produced = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    new = sorted(produced - set(committed))
    new = sorted(set(new) - ignored_by_git(new))
    differences += [Difference(p, "new", "written by the run, not committed") for p in new]
    summary = {"profile": profile, "only": list(only or []), "scratch": str(scratch), "seconds": round(seconds, 1),
               "committed": len(committed), "rewritten": len(rewritten),
               "differs": sum(d.status in ("differs", "missing", "new") for d in differences)}
    return differences, summary


def report(differences: Sequence[Difference], summary: dict[str, Any], stream: Any = sys.stdout) -> None:
    """Print what differs, then what differs only in declared timing or machine content."""
    print(f"[reproduce] {summary['rewritten']} of {summary['committed']} committed files rewritten by the run "
          f"({summary['seconds']} s)", file=stream)
    for status in ("differs", "missing", "new", "timing only", "machine file"):
        rows = [d for d in differences if d.status == status]
        if rows:
            print(f"[reproduce] {status}: {len(rows)}", file=stream)
            for d in rows:
                print(f"  {d.path}" + (f"  ({d.detail})" if status in ("differs", "missing") else ""), file=stream)
    verdict = "no differences beyond the declared timing fields" if not summary["differs"] else \
        f"{summary['differs']} file(s) differ"
    print(f"[reproduce] {verdict}", file=stream)
