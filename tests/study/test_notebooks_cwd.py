"""Every notebook runs top to bottom from ``notebooks/`` (where JupyterLab starts its kernels), quick profile.

Outputs go to a temporary folder named by *relative* ``AMBIG_*`` settings, as a user would set them in a shell:
the runner makes them absolute before the kernel starts in ``notebooks/``, so they must land where the shell
meant them, not under ``notebooks/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ambig_lib.core import paths
from ambig_lib.study.runner import load_profile, plan_parameters, run_notebook, study_notebooks

RELATIVE_DIRS = {"AMBIG_RESULTS_DIR": "out/results", "AMBIG_RUNS_DIR": "out/runs",
                 "AMBIG_SYNTHETIC_DIR": "out/synthetic", "AMBIG_LLM_DIRECT_DIR": "out/llm_direct"}


@pytest.fixture
def relative_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key, value in RELATIVE_DIRS.items():
        monkeypatch.setenv(key, value)
    return tmp_path / "out"


def _run_from_notebooks_dir(stems: list[str], out: Path) -> list[Path]:
    chosen = [nb for nb in study_notebooks() if nb.stem in stems]
    assert [nb.stem for nb in chosen] == stems
    planned = plan_parameters(load_profile("quick"), chosen, [])
    executed = []
    for notebook in chosen:
        executed.append(run_notebook(notebook, planned[notebook.stem], html=False, cwd=paths.notebooks_dir()))
        assert executed[-1] == out / "results" / "notebooks" / notebook.name  # where the relative setting pointed
    return executed


def _assert_clean(executed: Path, out: Path) -> None:
    notebook = json.loads(executed.read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    record = notebook["metadata"]["papermill"]
    assert (record["input_path"], record["output_path"]) == (f"notebooks/{executed.name}",
                                                             f"results/notebooks/{executed.name}")  # portable
    text = executed.read_text()
    # nothing names the checkout or the output folder by its absolute path (third-party warnings that name
    # their own source files are issue 17's; tests/core/test_portable_paths.py scans the committed notebooks)
    assert str(paths.REPO_ROOT) not in text and str(out) not in text


def test_inspection_notebook_runs_from_the_notebooks_folder(relative_outputs: Path) -> None:
    (executed,) = _run_from_notebooks_dir(["02_inspect_synthetic"], relative_outputs)
    _assert_clean(executed, relative_outputs)
    # written where the relative settings pointed from the shell's folder, nothing under notebooks/
    assert (relative_outputs / "results" / "tables" / "inspect_synthetic.csv").is_file()
    assert (relative_outputs / "results" / "figures" / "inspect_shortcut_accuracy.png").is_file()
    assert not (paths.notebooks_dir() / "out").exists()
    # the page shows the table itself (no printed paths since the appendix became a reader's page)
    assert "teacher_set" in executed.read_text() and "length_only_cv_accuracy" in executed.read_text()


@pytest.mark.slow
def test_every_notebook_runs_from_the_notebooks_folder_on_the_quick_profile(relative_outputs: Path) -> None:
    stems = [nb.stem for nb in study_notebooks()]
    assert len(stems) == 5
    for executed in _run_from_notebooks_dir(stems, relative_outputs):
        _assert_clean(executed, relative_outputs)
    assert (relative_outputs / "results" / "tables" / "evaluation.csv").is_file()
    assert (relative_outputs / "results" / "tables" / "latency.csv").is_file()


def test_the_project_kernel_is_registered_and_lab_serves_the_notebooks_with_it(tmp_path: Path) -> None:
    import re
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from ambig_lib.study.lab import KERNEL_NAME, ensure_kernel, lab_command

    spec = json.loads((ensure_kernel() / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "Python (ambig_lib)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(lab_command(["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                                           "--ServerApp.port_retries=0", "--IdentityProvider.token=t12"]),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        deadline, answer = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token=t12", timeout=5) as r:
                    answer = json.loads(r.read())
                break
            except OSError:
                time.sleep(1)
        assert answer is not None, f"JupyterLab did not answer (exit {server.poll()})"
        assert answer["default"] == KERNEL_NAME and KERNEL_NAME in answer["kernelspecs"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t12", timeout=10) as r:
            listed = {item["name"] for item in json.loads(r.read())["content"]}
        assert {nb.name for nb in study_notebooks()} <= listed  # the root is notebooks/
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=t12", timeout=10) as r:
            assert r.status == 200 and re.search(r"JupyterLab", r.read().decode())
    finally:
        server.terminate()
        server.wait(timeout=60)
