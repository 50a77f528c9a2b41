"""The command-line predictor: arguments, files, stdin, TSV and JSON lines, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from serving_student import exported_dir

from ambig_lib import paths
from ambig_lib.predict import main
from ambig_lib.serving import Predictor

QUERIES = ["Tell me about java", "Who won the 2018 FIFA World Cup final in Moscow?", "how to cook"]


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return exported_dir(paths.REPO_ROOT / "data" / "cache" / "dev_student" / "test-export")


def _run(args: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = main(args, stdin=_Pipe(stdin), stdout=out)
    return code, out.getvalue()


def test_arguments_give_tsv_matching_the_predictor(model_dir: Path) -> None:
    code, text = _run([str(model_dir), *QUERIES])
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "label\tprobability\tquery"
    expected = Predictor(model_dir, "int8").predict(QUERIES)
    for line, query, (label, prob) in zip(lines[1:], QUERIES, expected, strict=True):
        name, p, q = line.split("\t")
        assert q == query
        assert name == ("ambiguous" if label else "clear")
        assert float(p) == pytest.approx(prob, abs=1e-6)


def test_file_and_jsonl(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("\n".join(QUERIES) + "\n\n")
    code, text = _run([str(model_dir), "--file", str(source), "--format", "jsonl", "--variant", "fp32"])
    assert code == 0
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["query"] for r in records] == QUERIES
    assert all(r["label"] in ("clear", "ambiguous") and 0 < r["probability"] < 1 for r in records)


def test_stdin(model_dir: Path) -> None:
    code, text = _run([str(model_dir)], stdin="\n".join(QUERIES))
    assert code == 0
    assert len(text.splitlines()) == 1 + len(QUERIES)


def test_errors_exit_2_with_reason(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(tmp_path / "missing"), "q"])[0] == 2
    assert "does not exist" in capsys.readouterr().err
    assert _run([str(model_dir), "--file", str(tmp_path / "none.txt")])[0] == 2
    assert "no such file" in capsys.readouterr().err
    assert _run([str(model_dir)], stdin="\n \n")[0] == 2
    assert "No queries" in capsys.readouterr().err


def test_module_entry_point(model_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ambig_lib.predict", str(model_dir), "--format", "jsonl"],
                          input="what is java\n", capture_output=True, text=True, cwd=paths.REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["query"] == "what is java"
