"""The reproduction check: declared timing fields are ignored, everything else is compared byte for byte, and a
real re-run of 02 into a scratch folder reproduces its committed table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ambig_lib.cli.main import main
from ambig_lib.core import paths
from ambig_lib.study import reproduce
from ambig_lib.study.reproduce import Difference, compare, machine_file, normalise


def _git_checkout() -> bool:
    done = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "rev-parse", "HEAD"], capture_output=True)
    return done.returncode == 0


def test_timing_keys_are_ignored_at_any_depth_and_nothing_else() -> None:
    before = {"counts": {"rows": 10}, "this_run": {"wall_s": 1.0}, "folds": [{"wall_s": 2.0, "best_epoch": 3}],
              "versions": {"platform": "Linux-a"}, "trained_at": "2026-01-01T00:00:00"}
    after = {"counts": {"rows": 10}, "this_run": {"wall_s": 9.0}, "folds": [{"wall_s": 7.0, "best_epoch": 3}],
             "versions": {"platform": "Linux-b"}, "trained_at": "2026-02-02T00:00:00"}
    assert normalise("x.json", json.dumps(before).encode()) == normalise("x.json", json.dumps(after).encode())
    changed = {**after, "folds": [{"wall_s": 7.0, "best_epoch": 4}]}
    assert normalise("x.json", json.dumps(before).encode()) != normalise("x.json", json.dumps(changed).encode())
    lines = [json.dumps({"key": "a", "seconds": s}) for s in (1.0, 2.0)]
    assert normalise("c.jsonl", lines[0].encode()) == normalise("c.jsonl", lines[1].encode())
    assert normalise("t.tsv", b"a\t1.0\n") != normalise("t.tsv", b"a\t2.0\n")  # tables: byte for byte


def test_notebook_timing_is_ignored_but_outputs_are_not() -> None:
    def notebook(duration: float, start: str, output: str) -> bytes:
        return json.dumps({"metadata": {"papermill": {"duration": duration, "start_time": start}},
                           "cells": [{"metadata": {"papermill": {"duration": duration}, "execution": {"x": start}},
                                      "outputs": [{"text": output}]}]}).encode()

    a = notebook(1.0, "2026-01-01", "{'wall_s': 12.5, 'rows': 10}")
    b = notebook(3.0, "2026-02-02", "{'wall_s': 99.0, 'rows': 10}")
    c = notebook(3.0, "2026-02-02", "{'wall_s': 99.0, 'rows': 11}")
    assert normalise("n.ipynb", a) == normalise("n.ipynb", b)
    assert normalise("n.ipynb", a) != normalise("n.ipynb", c)
    html = "<td>&#39;wall_s&#39;: 1.5</td>"
    assert normalise("n.html", html.encode()) == normalise("n.html", html.replace("1.5", "2.5").encode())


def test_machine_files_are_declared_in_one_place() -> None:
    assert machine_file("results/tables/latency.csv") and machine_file("results/figures/latency_throughput.png")
    assert machine_file("results/notebooks/05_latency_compare.html")
    assert not machine_file("results/tables/evaluation.csv") and not machine_file("results/figures/eval_roc_clariq.png")


def test_compare_sorts_files_by_what_changed(tmp_path: Path) -> None:
    committed = {"results/tables/evaluation.csv": b"a,1\n", "results/tables/latency.csv": b"p50,1\n",
                 "runs/x/training_summary.json": json.dumps({"wall_s": 1, "f1": 0.5}).encode(),
                 "runs/x/predictions_clariq.tsv": b"q\t0.5\n", "results/tables/same.md": b"same\n"}
    produced = {"results/tables/evaluation.csv": b"a,2\n", "results/tables/latency.csv": b"p50,2\n",
                "runs/x/training_summary.json": json.dumps({"wall_s": 2, "f1": 0.5}).encode(),
                "results/tables/same.md": b"same\n"}
    for name, data in produced.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    found = {d.path: d.status for d in compare(committed, tmp_path)}
    assert found == {"results/tables/evaluation.csv": "differs", "results/tables/latency.csv": "machine file",
                     "runs/x/training_summary.json": "timing only", "runs/x/predictions_clariq.tsv": "missing"}


def test_a_profile_with_its_own_folders_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--profile", "quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not committed" in err
    assert main(["reproduce", "--profile", "no-such-profile"]) == 2


@pytest.mark.skipif(not _git_checkout(), reason="needs a git checkout")
def test_rerunning_02_reproduces_its_committed_table(tmp_path: Path) -> None:
    differences, summary = reproduce.reproduce(only=["02"], scratch=tmp_path / "scratch")
    # results are published only when they change (ambig_lib.study.staging), so an identical table keeps its file:
    # what is always rewritten is the executed notebook and its run log
    assert summary["committed"] > 300 and summary["rewritten"] >= 2
    listed = {d.path: d for d in differences}
    # 02's table and its figures are byte-identical to the committed ones
    for name in ("results/tables/inspect_synthetic.csv", "results/tables/inspect_synthetic.md",
                 "results/figures/inspect_length_words.png", "results/figures/inspect_shortcut_accuracy.png"):
        assert name not in listed, listed.get(name)
    # 02 reads runs/ and data/ but writes neither; nothing new appears outside git-ignored paths
    assert not [d for d in differences if d.path.startswith(("runs/", "data/"))]
    assert not [d for d in differences if d.status in ("missing", "new")]
    assert all(isinstance(d, Difference) for d in differences)
    # the checkout itself was not touched: the run wrote only into the scratch folder
    produced = tmp_path / "scratch" / "run" / "results" / "notebooks" / "02_inspect_synthetic.ipynb"
    assert json.loads(produced.read_text())["metadata"]["papermill"]["input_path"] == \
        "notebooks/02_inspect_synthetic.ipynb"
