"""The papermill runner: parameters injected, repository root as working directory, failures named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ambig_lib.cli.main import main
from ambig_lib.core import paths
from ambig_lib.core.errors import NotebookRunError
from ambig_lib.study import runner


def study(*args: str) -> int:
    """``ambig study ARGS`` (what run_all.sh runs) in this process."""
    return main(["study", *args])


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = new_notebook(cells=[new_code_cell(cells[0], metadata={"tags": ["parameters"]})]
                      + [new_code_cell(src) for src in cells[1:]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_parameters_injected_and_cwd_is_repo_root(tmp_path: Path) -> None:
    src = _notebook(tmp_path / "01_probe.ipynb", [
        "value = 1",
        "import json, os, pathlib\n"
        "pathlib.Path(out).write_text(json.dumps({'value': value, 'cwd': os.getcwd()}))",
    ])
    out = tmp_path / "probe.json"
    executed = runner.run_notebook(src, {"value": 41, "out": str(out)}, output_dir=tmp_path / "executed")
    result = json.loads(out.read_text())
    assert result == {"value": 41, "cwd": str(paths.REPO_ROOT)}
    assert executed.is_file() and executed.with_suffix(".html").is_file()
    assert "injected-parameters" in executed.read_text()


def test_failing_cell_names_notebook_and_cell(tmp_path: Path) -> None:
    src = _notebook(tmp_path / "03_broken.ipynb", ["x = 1", "y = x + 1", "raise ValueError('boom in cell')"])
    with pytest.raises(NotebookRunError) as info:
        runner.run_notebook(src, {}, output_dir=tmp_path / "executed", html=False)
    message = str(info.value)
    assert "03_broken.ipynb" in message and "ValueError" in message and "boom in cell" in message
    assert "cell 2 of the source notebook" in message


def test_cli_exit_code_and_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "02_second.ipynb", ["a = 0", "print('second', a)"])
    _notebook(nbs / "01_first.ipynb", ["a = 0", "print('first', a)"])
    _notebook(nbs / "03_fails.ipynb", ["a = 0", "1/0"])
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {a: 7}\nnotebooks: {}\n")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbs)
    monkeypatch.setattr(paths, "executed_notebooks_dir", lambda: tmp_path / "out")
    monkeypatch.setenv("AMBIG_RESULTS_DIR", str(tmp_path / "results"))
    assert [p.stem for p in runner.study_notebooks()] == ["01_first", "02_second", "03_fails"]
    assert study("--profile", str(profile), "--only", "01", "02", "--no-html") == 0
    assert (tmp_path / "out" / "02_second.ipynb").is_file()
    assert study("--profile", str(profile), "--no-html") == 1  # a failing notebook is not a usage error
    err = capsys.readouterr().err
    assert "03_fails.ipynb" in err and "ZeroDivisionError" in err and "Traceback" not in err


def test_profiles_load_and_match_the_notebooks() -> None:
    """Every committed profile only sets parameters the notebooks declare."""
    for name in ("default", "quick", "paper"):
        profile = runner.load_profile(name)
        for notebook in runner.study_notebooks():
            profile.parameters_for(notebook.stem, runner.declared_parameters(notebook))
        assert profile.parameters_for("02_inspect_synthetic")["seed"] == 0


def test_undeclared_profile_parameter_is_an_error(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "02_x.ipynb", ["alpha = 1\nseed = 0", "print(alpha)"])
    profile = runner.Profile("p", "", {"seed": 3, "shared_only_elsewhere": 1}, {"02_x": {"alhpa": 2}})
    with pytest.raises(NotebookRunError, match="parameter\\(s\\) alhpa .* does not declare"):
        profile.parameters_for("02_x", runner.declared_parameters(nb))
    ok = runner.Profile("p", "", {"seed": 3, "shared_only_elsewhere": 1}, {"02_x": {"alpha": 2}})
    assert ok.parameters_for("02_x", runner.declared_parameters(nb)) == {"seed": 3, "alpha": 2}


def test_unknown_profile_is_clear() -> None:
    with pytest.raises(NotebookRunError, match="Profile 'nope' not found"):
        runner.load_profile("nope")
    with pytest.raises(NotebookRunError, match="No notebook matches '09'"):
        runner.select_notebooks(runner.study_notebooks(), ["09"])


def test_source_notebooks_are_clean_and_parameterised() -> None:
    notebooks = runner.study_notebooks()
    assert notebooks, "no study notebooks found"
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"


def test_profile_env_redirects_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_env.ipynb", ["out = ''", "import os, pathlib\n"
                                     "pathlib.Path(out).write_text(os.environ['AMBIG_RESULTS_DIR'])"])
    profile = tmp_path / "smoke.yaml"
    profile.write_text(f"env: {{AMBIG_RESULTS_DIR: {tmp_path / 'smoke-results'}}}\n"
                       f"common: {{out: {tmp_path / 'seen.txt'}}}\n")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbs)
    for key in ("AMBIG_RESULTS_DIR",):
        monkeypatch.setenv(key, os.environ.get(key, str(paths.REPO_ROOT / "results")))
    runner.run_study(str(profile), html=False)
    # the kernel writes to a stage inside the profile's results folder, published when the notebook succeeds
    assert (tmp_path / "seen.txt").read_text() == str(tmp_path / "smoke-results" / ".staging" / "01_env")
    assert not (tmp_path / "smoke-results" / ".staging").exists()
    assert (tmp_path / "smoke-results" / "notebooks" / "01_env.ipynb").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {PATH: /tmp}\n")
    with pytest.raises(NotebookRunError, match="only set AMBIG_"):
        runner.load_profile(str(bad))


def test_set_overrides_profile_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_a.ipynb", ["seeds = [0]\nout = ''", "import json, pathlib\n"
                                   "pathlib.Path(out).write_text(json.dumps(seeds))"])
    _notebook(nbs / "02_b.ipynb", ["seeds = [0]\nflag = True\nout = ''", "import json, pathlib\n"
                                   "pathlib.Path(out).write_text(json.dumps([seeds, flag]))"])
    profile = tmp_path / "p.yaml"
    profile.write_text(f"common: {{seeds: [0, 1, 2]}}\nnotebooks: {{01_a: {{out: {tmp_path / 'a.json'}}}, "
                       f"02_b: {{out: {tmp_path / 'b.json'}}}}}\n")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbs)
    monkeypatch.setattr(paths, "executed_notebooks_dir", lambda: tmp_path / "out")
    monkeypatch.setenv("AMBIG_RESULTS_DIR", str(tmp_path / "results"))
    assert study("--profile", str(profile), "--no-html", "--set", "seeds=[5]", "--set", "02:flag=false") == 0
    assert json.loads((tmp_path / "a.json").read_text()) == [5]
    assert json.loads((tmp_path / "b.json").read_text()) == [[5], False]
    assert study("--profile", str(profile), "--list", "--set", "01:flag=1") == 2  # a usage error
    err = capsys.readouterr().err
    assert "--set flag: no parameter of that name in notebook '01'" in err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    with pytest.raises(NotebookRunError, match="expected \\[NOTEBOOK:\\]KEY=VALUE"):
        runner.parse_override("04:ceilings")
    assert runner.parse_override("04_evaluate:ceilings=false") == runner.Override("04_evaluate", "ceilings", False)


def test_set_for_a_notebook_not_selected_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "02_b.ipynb", ["x = 0", "print(x)"])
    _notebook(nbs / "04_d.ipynb", ["seeds = [0]", "print(seeds)"])
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {}\nnotebooks: {}\n")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbs)
    assert study("--profile", str(profile), "--list", "--only", "02", "--set", "04:seeds=[7]") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "notebook '04' is not selected (selected: 02_b)" in err and "no parameter" not in err


def test_only_without_a_value_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--only`` with nothing after it used to select every notebook."""
    assert study("--only", "--list") == 2
    err = capsys.readouterr().err
    assert "--only: expected at least one argument" in err and len(err.strip().splitlines()) == 1


def test_results_are_published_only_when_the_notebook_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """A failing notebook leaves tables, figures, its old executed copy and HTML untouched; a passing one
    publishes its tables with its own notebook and HTML."""
    results = tmp_path / "results"
    (results / "tables").mkdir(parents=True)
    (results / "notebooks").mkdir()
    (results / "tables" / "evaluation.csv").write_text("good,138 lines\n")
    (results / "notebooks" / "04_eval.ipynb").write_text("old good notebook")
    (results / "notebooks" / "04_eval.html").write_text("old good html")
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write = ("from ambig_lib.core import paths\n"
             "previous = (paths.tables_dir() / 'evaluation.csv').read_text()\n"
             "(paths.tables_dir() / 'evaluation.csv').write_text('new ' + previous)\n"
             "(paths.figures_dir()).mkdir(parents=True, exist_ok=True)\n"
             "(paths.figures_dir() / 'f.png').write_bytes(b'png')\n"
             "print('wrote', paths.tables_dir() / 'evaluation.csv')")
    _notebook(nbs / "04_eval.ipynb", ["fail = False", write, "assert not fail, 'boom'"])
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {}\nnotebooks: {}\n")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbs)
    monkeypatch.setenv("AMBIG_RESULTS_DIR", str(results))

    assert study("--profile", str(profile), "--set", "fail=true") == 1
    assert (results / "tables" / "evaluation.csv").read_text() == "good,138 lines\n"
    assert not (results / "figures").exists()
    assert (results / "notebooks" / "04_eval.ipynb").read_text() == "old good notebook"
    assert (results / "notebooks" / "04_eval.html").read_text() == "old good html"
    assert (results / ".staging" / "04_eval" / "notebooks" / "04_eval.ipynb").is_file()  # kept for inspection

    assert study("--profile", str(profile)) == 0
    assert (results / "tables" / "evaluation.csv").read_text() == "new good,138 lines\n"
    assert (results / "figures" / "f.png").read_bytes() == b"png"
    executed = (results / "notebooks" / "04_eval.ipynb").read_text()
    assert "wrote" in executed and ".staging" not in executed
    assert str(results / "tables" / "evaluation.csv") in executed  # paths shown as published
    assert ".staging" not in (results / "notebooks" / "04_eval.html").read_text()
    assert not (results / ".staging").exists()
