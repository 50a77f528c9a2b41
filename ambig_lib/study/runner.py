"""Execute the study's notebooks headlessly with papermill, parameters injected from a named profile.

``ambig study --profile default`` (what ``run_all.sh`` calls; the command line is :mod:`ambig_lib.cli.study`)
runs ``notebooks/0*.ipynb`` in order, writes each executed notebook and its HTML rendering to
``results/notebooks/``, and stops at the first failing cell with an error naming the notebook and the cell. Notebooks run with the repository root as working directory by default, and
from ``notebooks/`` just the same (``run_notebook(cwd=...)``; ``--lab`` opens them in JupyterLab there).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ambig_lib.core import paths
from ambig_lib.core.errors import NotebookRunError
from ambig_lib.core.io import write_text_atomic
from ambig_lib.study import appendix, notebook_output
from ambig_lib.study.lab import batch_kernel_env, make_portable
from ambig_lib.study.staging import open_stage, publish, results_redirected, unstage_text


@dataclass(frozen=True)
class Profile:
    """A named set of notebook parameters: ``common`` applies to every notebook, ``notebooks`` per notebook."""

    name: str
    description: str
    common: dict[str, Any]
    notebooks: dict[str, dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)

    def parameters_for(self, notebook_stem: str, declared: set[str] | None = None) -> dict[str, Any]:
        """Common parameters the notebook declares, then the notebook's own (which must all be declared)."""
        own = dict(self.notebooks.get(notebook_stem, {}) or {})
        if declared is None:
            return {**self.common, **own}
        unknown = sorted(set(own) - declared)
        if unknown:
            raise NotebookRunError(
                f"Profile {self.name!r} gives {notebook_stem} parameter(s) {', '.join(unknown)} that its "
                f"parameters cell does not declare ({', '.join(sorted(declared))}). Fix the profile."
            )
        return {**{k: v for k, v in self.common.items() if k in declared}, **own}


@dataclass(frozen=True)
class Override:
    """One ``--set [NOTEBOOK:]KEY=VALUE`` from the command line (value parsed as YAML)."""

    notebook: str | None
    key: str
    value: Any

    def applies_to(self, notebook_stem: str) -> bool:
        return self.notebook is None or notebook_stem == self.notebook or notebook_stem.startswith(f"{self.notebook}_")


def parse_override(text: str) -> Override:
    """``04:ceilings=false`` -> Override("04", "ceilings", False); ``seeds=[0]`` applies to every notebook."""
    target, sep, raw = text.partition("=")
    notebook, _, key = target.rpartition(":")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise NotebookRunError(f"--set {text!r}: expected [NOTEBOOK:]KEY=VALUE, e.g. --set 04:ceilings=false "
                               "or --set seeds=[0].")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise NotebookRunError(f"--set {text!r}: the value is not valid YAML: {exc}") from exc
    return Override(notebook.strip() or None, key, value)


def apply_overrides(notebooks: list[Path], base: dict[str, dict[str, Any]], declared: dict[str, set[str]],
                    overrides: list[Override]) -> dict[str, dict[str, Any]]:
    """Profile parameters per notebook stem, with the overrides on top; an override no notebook takes is an error."""
    merged = {stem: dict(params) for stem, params in base.items()}
    for override in overrides:
        if override.notebook and not any(override.applies_to(nb.stem) for nb in notebooks):
            raise NotebookRunError(f"--set {override.notebook}:{override.key}: notebook {override.notebook!r} is not "
                                   f"selected (selected: {', '.join(nb.stem for nb in notebooks)}). Fix: add it to "
                                   "--only, or drop this --set.")
        taken = [nb.stem for nb in notebooks
                 if override.applies_to(nb.stem) and override.key in declared[nb.stem]]
        if not taken:
            where = f"notebook {override.notebook!r}" if override.notebook else "any selected notebook"
            raise NotebookRunError(f"--set {override.key}: no parameter of that name in {where}; "
                                   "see ./run_all.sh --list for the declared parameters.")
        for stem in taken:
            merged[stem][override.key] = override.value
    return merged


def plan_parameters(profile: Profile, notebooks: list[Path], overrides: list[Override]) -> dict[str, dict[str, Any]]:
    """The parameters each notebook gets: the profile's (checked against its parameters cell), then ``overrides``."""
    declared = {nb.stem: declared_parameters(nb) for nb in notebooks}
    base = {nb.stem: profile.parameters_for(nb.stem, declared[nb.stem]) for nb in notebooks}
    return apply_overrides(notebooks, base, declared, overrides)


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import papermill as pm

    return set(pm.inspect_notebook(str(notebook)))


def load_profile(name_or_path: str) -> Profile:
    """Load ``profiles/<name>.yaml`` (or a YAML path) with a clear error when it is missing or malformed."""
    path = Path(name_or_path)
    if not path.suffix:
        path = paths.profiles_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in paths.profiles_dir().glob("*.yaml"))
        raise NotebookRunError(f"Profile {name_or_path!r} not found at {path}. Available: {', '.join(available)}.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise NotebookRunError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise NotebookRunError(f"{path}: expected a mapping with keys description, common, notebooks.")
    unknown = set(raw) - {"description", "common", "notebooks", "env"}
    if unknown:
        raise NotebookRunError(f"{path}: unknown top-level key(s) {sorted(unknown)}; allowed: description, "
                               "common, notebooks, env.")
    env = {str(k): str(v) for k, v in (raw.get("env") or {}).items()}
    bad = [k for k in env if not k.startswith("AMBIG_")]
    if bad:
        raise NotebookRunError(f"{path}: env may only set AMBIG_* variables, not {', '.join(bad)}.")
    return Profile(path.stem, str(raw.get("description", "")), dict(raw.get("common") or {}),
                   dict(raw.get("notebooks") or {}), env)


def apply_profile_env(profile: Profile) -> dict[str, str]:
    """Export the profile's ``AMBIG_*`` variables (relative paths taken from the repository root).

    The kernels papermill starts inherit them, so a smoke profile can write to its own results, runs and
    synthetic-data folders and never overwrite the default profile's artefacts.
    """
    applied = {}
    for key, value in profile.env.items():
        resolved = str(paths.REPO_ROOT / value) if key.endswith("_DIR") and not Path(value).is_absolute() else value
        os.environ[key] = resolved
        applied[key] = resolved
    return applied


def study_notebooks(notebooks_dir: Path | None = None) -> list[Path]:
    """The study notebooks in execution order (``notebooks/0*.ipynb``)."""
    folder = notebooks_dir or paths.notebooks_dir()
    return sorted(folder.glob("0*.ipynb"))


def select_notebooks(available: list[Path], only: list[str] | None) -> list[Path]:
    """Filter by prefix or stem (``02`` or ``02_inspect_synthetic``); unknown selections are an error."""
    if not only:
        return available
    chosen = []
    for key in only:
        matches = [p for p in available if p.stem == key or p.stem.startswith(f"{key}_") or p.stem == f"{key}"]
        if not matches:
            raise NotebookRunError(f"No notebook matches {key!r}; available: {', '.join(p.stem for p in available)}.")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def render_html(executed: Path) -> Path:
    """Render an executed notebook to HTML next to it (the paper appendix)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    target = executed.with_suffix(".html")
    write_text_atomic(target, body)
    return target


def _failed_cell(executed: Path) -> str:
    """Describe the failing cell from the executed notebook papermill wrote."""
    import nbformat

    try:
        notebook = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - best effort, the original error is raised anyway
        return "unknown cell"
    added_by_papermill = {"papermill-error-cell-tag", "injected-parameters"}
    source_cells = [c for c in notebook.cells if not added_by_papermill & set(c.metadata.get("tags", []))]
    for index, cell in enumerate(source_cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return (f"cell {index} of the source notebook (0-based; In [{cell.get('execution_count')}]): "
                        f"{first_line[:80]!r}")
    return "unknown cell"


class NotebookFailedError(NotebookRunError):
    """A notebook ran and one of its cells raised (not a usage error: the executed copy holds the traceback)."""


def run_notebook(notebook: Path, parameters: dict[str, Any], output_dir: Path | None = None,
                 html: bool = True, kernel_name: str = "python3", cwd: Path | None = None) -> Path:
    """Execute one notebook with papermill (working folder ``cwd``, default the repository root); return the
    executed copy. Raises NotebookRunError on failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError


    batch_kernel_env()  # absolute AMBIG_* folders (the kernel may start elsewhere); no progress bars
    output_dir = output_dir or paths.executed_notebooks_dir()
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / notebook.name
    try:
        with notebook_output.headless(executed.with_suffix(".log")) as kernel_args:
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters,
                                cwd=str(cwd or paths.REPO_ROOT), kernel_name=kernel_name, progress_bar=False,
                                log_output=False, **kernel_args)
    except PapermillExecutionError as exc:
        make_portable(executed)
        raise NotebookFailedError(
            f"Notebook {notebook.name} failed in {_failed_cell(executed)}: {exc.ename}: {str(exc.evalue).rstrip('.')}. "
            f"The executed notebook with the traceback is {executed}."
        ) from exc
    make_portable(executed)
    if html:
        render_html(executed)
    return executed


def run_staged(notebook: Path, parameters: dict[str, Any], output_dir: Path | None = None,
               html: bool = True) -> Path:
    """``run_notebook`` against a staging copy of the results, published only when the notebook succeeds.

    See :mod:`ambig_lib.study.staging`: on failure the results folder (tables, figures, executed notebook and HTML)
    is left exactly as it was; on success the executed notebook and its HTML come from this run.
    """
    final_dir = output_dir or paths.executed_notebooks_dir()
    stage = open_stage(notebook.stem)
    with results_redirected(stage):
        executed = run_notebook(notebook, parameters, output_dir=stage.notebooks, html=False)
    write_text_atomic(executed, unstage_text(executed.read_text(encoding="utf-8"), stage))
    if html:
        render_html(executed)
    publish(stage, final_dir)
    return final_dir / executed.name


def run_study(profile: str = "default", only: list[str] | None = None, html: bool = True,
              notebooks_dir: Path | None = None, output_dir: Path | None = None,
              overrides: list[Override] | None = None) -> list[tuple[str, float]]:
    """Run the selected notebooks in order with the profile's parameters (``overrides`` on top).

    Returns (notebook, seconds) pairs.
    """
    prof = load_profile(profile)
    for key, value in apply_profile_env(prof).items():
        print(f"[run_all] profile {prof.name}: {key}={value}", flush=True)
    chosen = select_notebooks(study_notebooks(notebooks_dir), only)
    if not chosen:
        raise NotebookRunError(f"No notebooks to run in {notebooks_dir or paths.notebooks_dir()}.")
    planned = plan_parameters(prof, chosen, overrides or [])
    timings: list[tuple[str, float]] = []
    for notebook in chosen:
        params = planned[notebook.stem]
        print(f"[run_all] {notebook.name} (profile {prof.name}) parameters={params}", flush=True)
        start = time.perf_counter()
        run_staged(notebook, params, output_dir=output_dir, html=html)
        elapsed = time.perf_counter() - start
        timings.append((notebook.stem, elapsed))
        print(f"[run_all] {notebook.name} done in {elapsed:.1f} s", flush=True)
    if html:
        print(f"[run_all] appendix index: {appendix.write_index(output_dir or paths.executed_notebooks_dir())}")
    return timings
