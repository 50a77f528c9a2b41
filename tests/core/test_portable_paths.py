"""No artefact names a path of the machine that wrote it: provenance uses repository-relative paths or
``mirror:`` / ``cache:`` references, and the committed artefacts hold no absolute path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from ambig_lib.core import paths
from ambig_lib.data.teacher_sets import teacher_set_source
from ambig_lib.study.lab import absolute_env, make_portable
from ambig_lib.training.finetune import portable_summary

#: An absolute POSIX path at the start of a token (quote, space, bracket, '=' or '>' before it); URLs do not
#: match (their '/' follows ':' or another '/').
ABSOLUTE_PATH = re.compile(r"""(?:^|[\s"'(=\[,>])(/(?:[A-Za-z0-9._@+-]+/)+[A-Za-z0-9._@+-]*)""", re.MULTILINE)
TEXT_SUFFIXES = {".json", ".jsonl", ".csv", ".tsv", ".md", ".ipynb", ".html", ".txt", ".yaml"}


@pytest.fixture
def relocated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, folder in {"AMBIG_DATA_DIR": "d", "AMBIG_CACHE_DIR": "c", "AMBIG_MODEL_CACHE": "models",
                        "AMBIG_SYNTHETIC_DIR": "syn", "AMBIG_LLM_DIRECT_DIR": "llm", "AMBIG_RUNS_DIR": "r",
                        "AMBIG_RESULTS_DIR": "res", paths.MIRROR_ENV: "mirror"}.items():
        monkeypatch.setenv(key, str(tmp_path / folder))
    return tmp_path


def test_portable_path_names_each_study_folder_by_its_role(relocated: Path) -> None:
    t = relocated
    assert paths.portable_path(t / "r/minilm/seed/gpt-4.1/0/fold_0") == "runs/minilm/seed/gpt-4.1/0/fold_0"
    assert paths.portable_path(t / "res/figures/x.png") == "results/figures/x.png"
    assert paths.portable_path(t / "syn/a_balanced_strict.tsv") == "data/synthetic/a_balanced_strict.tsv"
    assert paths.portable_path(t / "llm/q.cache.jsonl") == "data/llm_direct/q.cache.jsonl"
    assert paths.portable_path(t / "models/minilm") == "cache:models/minilm"
    assert paths.portable_path(t / "c/public/clariq/train.tsv") == "cache:public/clariq/train.tsv"
    assert paths.portable_path(t / "mirror/seed/x.tsv") == "mirror:seed/x.tsv"
    assert paths.portable_path(t / "d/other/file") == "data/other/file"
    assert paths.portable_path(str(t / "r" / "a" / ".." / "b")) == "runs/b"
    assert paths.portable_path(paths.REPO_ROOT / "ambig_lib" / "core" / "paths.py") == "ambig_lib/core/paths.py"
    assert paths.portable_path("seed/gpt-4.1") == "seed/gpt-4.1"  # a name stays a name
    assert paths.portable_path("/elsewhere/file.tsv") == "/elsewhere/file.tsv"  # a user's own file: unchanged
    for local in (t / "r/minilm/seed/gpt-4.1/0/fold_0", t / "res/figures/x.png", t / "syn/a.tsv", t / "llm/q.jsonl",
                  t / "models/minilm", t / "c/public/x.tsv", t / "mirror/seed/x.tsv", t / "d/other/file",
                  paths.REPO_ROOT / "ambig_lib" / "paths.py"):
        assert paths.from_portable(paths.portable_path(local)) == local  # a reference resolves back here


def test_the_most_specific_folder_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AMBIG_CACHE_DIR", raising=False)
    monkeypatch.delenv("AMBIG_MODEL_CACHE", raising=False)
    assert paths.portable_path(tmp_path / "data/cache/models/minilm") == "cache:models/minilm"
    assert paths.portable_path(tmp_path / "data/cache/public/x") == "cache:public/x"


def test_summaries_written_before_are_made_portable(relocated: Path) -> None:
    old = {"student_path": str(relocated / "models/minilm"), "teacher": "seed/gpt-4.1",
           "folds": [{"fold": 0, "path": str(relocated / "r/minilm/seed/gpt-4.1/0/fold_0")}, {"fold": 1, "path": None}]}
    new = portable_summary(old)
    assert new["student_path"] == "cache:models/minilm"
    assert new["folds"] == [{"fold": 0, "path": "runs/minilm/seed/gpt-4.1/0/fold_0"}, {"fold": 1, "path": None}]
    assert portable_summary(new) == new
    # written on another machine: recognised by the tail of the path
    foreign = {"student": "minilm", "teacher": "seed/gpt-4.1", "seed": 2, "student_path": "/root/cache/models/minilm",
               "folds": [{"fold": 3, "path": "/work/main/runs/minilm/seed/gpt-4.1/2/fold_3"}]}
    assert portable_summary(foreign)["student_path"] == "cache:models/minilm"
    assert portable_summary(foreign)["folds"][0]["path"] == "runs/minilm/seed/gpt-4.1/2/fold_3"
    assert portable_summary({**foreign, "student_path": "/opt/mine"})["student_path"] == "/opt/mine"  # not ours


def test_teacher_set_sources_are_references(relocated: Path) -> None:
    assert teacher_set_source("seed/gpt-4.1") == "mirror:seed/gpt_4_1_balanced_strict.tsv"
    (relocated / "syn").mkdir()
    (relocated / "syn" / "x_seed_balanced_strict.tsv").write_text("topic\tinitial_request\tbinary_label\t"
                                                                  "user_information_need\nA\tq\t0\tn\n")
    assert teacher_set_source("generated/x_seed") == "data/synthetic/x_seed_balanced_strict.tsv"


def test_executed_notebook_metadata_is_made_portable(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"input_path": str(paths.notebooks_dir() / "02_inspect_synthetic.ipynb"),
                                      "output_path": str(paths.executed_notebooks_dir() / "02_inspect_synthetic.ipynb"),
                                      "duration": 1.5}
    injected = nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["injected-parameters"]})
    bar = nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a1"},
                                                       "text/plain": "50%|##  | 1/2 [00:01<00:01, 1.0it/s]"})
    table = nbformat.v4.new_output("display_data", data={"text/plain": "a table"})
    notebook.cells = [injected, nbformat.v4.new_code_cell("work()", outputs=[bar, table])]
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"a1": {}}}}
    target = tmp_path / "02.ipynb"
    nbformat.write(notebook, target)
    make_portable(target)
    again = nbformat.read(target, as_version=4)
    assert again.cells[0].id == "injected-parameters"  # papermill draws a random id per run
    assert again.cells[1].outputs == [table] and "widgets" not in again.metadata  # progress bars are dropped
    record = again.metadata["papermill"]
    assert record["input_path"] == "notebooks/02_inspect_synthetic.ipynb"
    assert record["output_path"] == "results/notebooks/02_inspect_synthetic.ipynb"
    assert record["duration"] == 1.5


def test_relative_folder_settings_are_made_absolute_for_kernels_elsewhere(tmp_path: Path) -> None:
    env = {"AMBIG_RESULTS_DIR": "out/results", "AMBIG_RUNS_DIR": str(tmp_path / "abs"), "OTHER": "rel"}
    changed = absolute_env(env, base=tmp_path)
    assert changed == {"AMBIG_RESULTS_DIR": str(tmp_path / "out/results")}
    assert env == {"AMBIG_RESULTS_DIR": str(tmp_path / "out/results"), "AMBIG_RUNS_DIR": str(tmp_path / "abs"),
                   "OTHER": "rel"}


def _machine_roots() -> list[str]:
    """Folders of this machine that must never appear in a committed file."""
    roots = {paths.REPO_ROOT, paths.REPO_ROOT.parent, Path.home(), Path(tempfile.gettempdir()), Path(sys.prefix),
             paths.model_cache_dir().resolve()}
    mirror = paths.mirror_dir()
    if mirror is not None:
        roots.add(mirror)
    return sorted({str(r) for r in roots if str(r) not in ("/", "")})


def test_no_committed_artefact_names_an_absolute_path() -> None:
    listed = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "ls-files", "-z", "results", "runs", "data"],
                            capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [f for f in listed.stdout.decode().split("\0") if f and Path(f).suffix in TEXT_SUFFIXES]
    assert len(files) > 100  # the committed results, runs and synthetic data
    roots = _machine_roots()
    offenders: dict[str, set[str]] = {}
    for name in files:
        path = paths.REPO_ROOT / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits = {m.group(1)[:80] for m in ABSOLUTE_PATH.finditer(text)}
        hits |= {root for root in roots if root + os.sep in text}
        if hits:
            offenders[name] = hits
    report = "\n".join(f"{name}: {sorted(hits)[:3]}" for name, hits in sorted(offenders.items())[:20])
    assert not offenders, f"{len(offenders)} committed file(s) name absolute paths:\n{report}"


def test_the_scan_finds_an_absolute_path() -> None:
    """The pattern above catches what this machine would write, and leaves URLs and relative paths alone."""
    sample = (f'"path": "{paths.REPO_ROOT}/runs/x", PosixPath(\'/tmp/a/b.png\'), '
              '"url": "https://example.org/a/b", "rel": "runs/minilm/seed"')
    assert {m.group(1) for m in ABSOLUTE_PATH.finditer(sample)} == {f"{paths.REPO_ROOT}/runs/x", "/tmp/a/b.png"}
