"""The study as interactive notebooks: JupyterLab, the project's kernel, and portable executed copies.

- ``open_lab()`` (``./run_all.sh --lab``) starts JupyterLab on ``notebooks/`` with the project's kernel. Each
  notebook runs top to bottom from there with its default parameters (a test executes them with the working
  folder ``notebooks/``): they name files only through ``ambig_lib.core.paths``, never relative to the working
  folder, and ``absolute_env()`` turns relative ``AMBIG_*`` folder settings into absolute ones first, so a
  kernel started in ``notebooks/`` finds the same folders as the shell that started it.
- ``ensure_kernel()`` registers the kernel ``ambig_lib`` inside the virtual environment (``--sys-prefix``); the
  set-up script does this once.
- ``make_portable(executed)`` rewrites the paths papermill records in an executed notebook's metadata
  (``input_path``, ``output_path``) as repository-relative ones and gives the injected parameters cell a fixed
  id; ``batch_kernel_env()`` switches tqdm's bars off for headless runs. A re-run then writes the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ambig_lib.core import paths
from ambig_lib.core.io import write_text_atomic

KERNEL_NAME = "ambig_lib"
KERNEL_DISPLAY_NAME = "Python (ambig_lib)"
#: Id of the parameters cell papermill injects (papermill draws a random one per run).
INJECTED_ID = "injected-parameters"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: Environment variables naming folders; relative values are made absolute before a kernel starts elsewhere.
PATH_VARIABLES: tuple[str, ...] = ("AMBIG_DATA_DIR", "AMBIG_CACHE_DIR", "AMBIG_SYNTHETIC_DIR", "AMBIG_LLM_DIRECT_DIR",
                                   "AMBIG_RUNS_DIR", "AMBIG_RESULTS_DIR", "AMBIG_MODEL_CACHE", paths.MIRROR_ENV)


def absolute_env(environ: dict[str, str] | None = None, base: Path | None = None) -> dict[str, str]:
    """Make every relative ``AMBIG_*`` folder in ``environ`` (default ``os.environ``, changed in place) absolute.

    Relative values are taken from ``base`` (default: the current working folder, where the user set them).
    Returns the variables that were changed.
    """
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    base = base or Path.cwd()
    changed = {}
    for key in PATH_VARIABLES:
        value = environ.get(key, "")
        if value and not Path(value).expanduser().is_absolute():
            environ[key] = changed[key] = str((base / value).resolve())
    return changed


def batch_kernel_env(environ: dict[str, str] | None = None) -> None:
    """Environment for kernels that papermill runs headless (``environ``, default ``os.environ``, in place).

    Relative folders become absolute (``absolute_env``). Progress bars stay on: the headless kernel's
    ``notebook_output`` extension writes them to the run log (``results/notebooks/<name>.log``, a timing file
    for ``reproduce``), never into the saved notebook.
    """
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    absolute_env(environ)


def make_portable(executed: Path) -> None:
    """Make an executed notebook the same bytes on any machine and re-run.

    papermill's ``input_path`` / ``output_path`` become ``paths.portable_path``s, the parameters cell it
    injects gets a fixed id instead of a random one, and ipywidgets outputs are dropped with their saved state:
    headless, they are only tqdm's progress bars (tqdm's notebook bars ignore ``TQDM_DISABLE``), each with a
    random widget id and its elapsed time.
    """
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    record: dict[str, Any] = notebook.metadata.get("papermill", {})
    changed = False
    for cell in notebook.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []) and cell.get("id") != INJECTED_ID:
            cell["id"] = INJECTED_ID
            changed = True
        outputs = cell.get("outputs", [])
        kept = [o for o in outputs if WIDGET_VIEW not in o.get("data", {})]
        if len(kept) != len(outputs):
            cell["outputs"] = kept
            changed = True
    if notebook.metadata.pop("widgets", None) is not None:
        changed = True
    for key in ("input_path", "output_path"):
        value = record.get(key)
        if isinstance(value, str) and value:
            portable = paths.portable_path(value)
            changed |= portable != value
            record[key] = portable
    if changed:
        write_text_atomic(executed, nbformat.writes(notebook))


def kernel_dir(prefix: str | os.PathLike[str] = sys.prefix) -> Path:
    """Where ``ipykernel install --sys-prefix`` puts the project's kernel spec."""
    return Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def ensure_kernel() -> Path:
    """Register the kernel ``ambig_lib`` (this interpreter) inside the environment once; returns its folder."""
    folder = kernel_dir()
    if not (folder / "kernel.json").is_file():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
                        "--display-name", KERNEL_DISPLAY_NAME], check=True, capture_output=True)
    return folder


def lab_command(extra: list[str] | None = None) -> list[str]:
    """The JupyterLab command line: the notebooks folder as root, the project's kernel by default."""
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # containers run as root
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={paths.notebooks_dir()}",
            f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}", *as_root, *(extra or [])]


def open_lab(extra: list[str] | None = None) -> int:
    """Start JupyterLab on ``notebooks/`` (blocks until it is stopped); returns its exit status."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        print("[lab] jupyterlab is not installed. Fix: pip install -e . (it is a dependency in pyproject.toml).",
              file=sys.stderr)
        return 2
    absolute_env()
    ensure_kernel()
    print(f"[lab] JupyterLab on {paths.notebooks_dir()} with kernel {KERNEL_NAME!r}; Ctrl-C stops it.", flush=True)
    return subprocess.run(lab_command(extra), cwd=paths.notebooks_dir()).returncode
