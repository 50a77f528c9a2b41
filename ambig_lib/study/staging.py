"""Stage a notebook's results in a temporary folder and publish them only when the notebook succeeds.

The runner executes each notebook with ``AMBIG_RESULTS_DIR`` pointing at a staging copy of the results folder
(``<results>/.staging/<notebook>/``, git-ignored): tables and figures are copied in first, so a notebook that
reads earlier results (04 carries over LLM-direct rows) sees them, and papermill writes the executed notebook
there too. If the notebook succeeds, every staged file that is new or changed replaces its published copy
(``os.replace``, one atomic rename per file) and the executed notebook and its HTML are published together. If
it fails, nothing under the results folder changes: the old tables, figures, notebook and HTML stay as they
were, and the failed notebook is left in the staging folder for inspection (the error names it).
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ambig_lib.core import paths

STAGING_DIRNAME = ".staging"
#: Sub-folder of the results holding executed notebooks; not copied into a stage (nothing reads them).
NOTEBOOKS_SUBDIR = "notebooks"


@dataclass(frozen=True)
class Stage:
    """One notebook's staging area: ``results`` replaces ``AMBIG_RESULTS_DIR`` while the notebook runs."""

    results: Path
    published: Path

    @property
    def notebooks(self) -> Path:
        return self.results / NOTEBOOKS_SUBDIR


def _copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` into ``target`` (real copies: a staged file must never share an inode with its original)."""
    for item in sorted(source.rglob("*")):
        relative = item.relative_to(source)
        if relative.parts[0] in (STAGING_DIRNAME, NOTEBOOKS_SUBDIR) or not item.is_file():
            continue
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(item, out)


def open_stage(name: str, results_dir: Path | None = None) -> Stage:
    """A fresh staging folder for notebook ``name`` holding a copy of the current results (notebooks excluded)."""
    published = Path(results_dir) if results_dir is not None else paths.results_dir()
    folder = published / STAGING_DIRNAME / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if published.is_dir():
        _copy_tree(published, folder)
    return Stage(folder, published)


def publish_file(source: Path, target: Path) -> bool:
    """Move ``source`` over ``target`` atomically unless they are already identical; True when replaced."""
    if target.is_file() and filecmp.cmp(source, target, shallow=False):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return True


def publish(stage: Stage, notebooks_dir: Path | None = None) -> list[Path]:
    """Publish a successful stage: staged results into ``stage.published``, executed notebooks (and HTML) into
    ``notebooks_dir`` (default ``<published>/notebooks``). Removes the stage; returns the replaced paths."""
    notebooks_target = Path(notebooks_dir) if notebooks_dir is not None else stage.published / NOTEBOOKS_SUBDIR
    replaced = []
    for item in sorted(stage.results.rglob("*")):
        if not item.is_file():
            continue
        relative = item.relative_to(stage.results)
        if relative.parts[0] == NOTEBOOKS_SUBDIR:
            target = notebooks_target / Path(*relative.parts[1:])
        else:
            target = stage.published / relative
        if publish_file(item, target):
            replaced.append(target)
    discard(stage)
    return replaced


def discard(stage: Stage) -> None:
    """Remove a stage (and the ``.staging`` folder once it is empty)."""
    shutil.rmtree(stage.results, ignore_errors=True)
    try:
        stage.results.parent.rmdir()
    except OSError:
        pass


def unstage_text(text: str, stage: Stage) -> str:
    """``text`` with the stage's paths shown as the published ones (absolute and repository-relative)."""
    pairs = [(str(stage.results), str(stage.published))]
    try:
        pairs.append((str(stage.results.relative_to(paths.REPO_ROOT)), str(stage.published.relative_to(paths.REPO_ROOT))))
    except ValueError:
        pass
    for staged, published in pairs:
        text = text.replace(staged, published)
    return text


@contextmanager
def results_redirected(stage: Stage) -> Iterator[Stage]:
    """Point ``AMBIG_RESULTS_DIR`` (inherited by the notebook's kernel) at the stage; restored afterwards."""
    previous = os.environ.get("AMBIG_RESULTS_DIR")
    os.environ["AMBIG_RESULTS_DIR"] = str(stage.results)
    try:
        yield stage
    finally:
        if previous is None:
            os.environ.pop("AMBIG_RESULTS_DIR", None)
        else:
            os.environ["AMBIG_RESULTS_DIR"] = previous
