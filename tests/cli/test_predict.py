"""``ambig predict``: arguments, files, stdin, TSV and JSON lines, errors."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO
from unittest import mock

import pytest

from ambig_lib.cli.main import main
from ambig_lib.core import paths
from ambig_lib.serving.predictor import Predictor

QUERIES = ["Tell me about java", "Who won the 2018 FIFA World Cup final in Moscow?", "how to cook"]


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def _predict(args: list[str], stdin: TextIO, stdout: TextIO) -> int:
    """``ambig predict ARGS`` in this process, reading ``stdin`` and writing ``stdout``."""
    with mock.patch.object(sys, "stdin", stdin), contextlib.redirect_stdout(stdout):
        return main(["predict", *args])


def _run(args: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = _predict(args, _Pipe(stdin), out)
    return code, out.getvalue()


def test_arguments_give_tsv_matching_the_predictor(dev_export: Path) -> None:
    code, text = _run([str(dev_export), *QUERIES])
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "label\tprobability\tquery"
    expected = Predictor(dev_export, "int8").predict(QUERIES)
    for line, query, (label, prob) in zip(lines[1:], QUERIES, expected, strict=True):
        name, p, q = line.split("\t")
        assert q == query
        assert name == ("ambiguous" if label else "clear")
        assert float(p) == pytest.approx(prob, abs=1e-6)


def test_file_and_jsonl(dev_export: Path, tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("\n".join(QUERIES) + "\n\n")
    code, text = _run([str(dev_export), "--file", str(source), "--format", "jsonl", "--variant", "fp32"])
    assert code == 0
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["query"] for r in records] == QUERIES
    assert all(r["label"] in ("clear", "ambiguous") and 0 < r["probability"] < 1 for r in records)


def test_stdin(dev_export: Path) -> None:
    code, text = _run([str(dev_export)], stdin="\n".join(QUERIES))
    assert code == 0
    assert len(text.splitlines()) == 1 + len(QUERIES)


def test_errors_exit_2_with_reason(dev_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(tmp_path / "missing"), "q"])[0] == 2
    assert "does not exist" in capsys.readouterr().err
    assert _run([str(dev_export), "--file", str(tmp_path / "none.txt")])[0] == 2
    assert "no such file" in capsys.readouterr().err
    assert _run([str(dev_export)], stdin="\n \n")[0] == 2
    assert "No queries" in capsys.readouterr().err


def test_module_entry_point(dev_export: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ambig_lib", "predict", str(dev_export), "--format", "jsonl"],
                          input="what is java\n", capture_output=True, text=True, cwd=paths.REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["query"] == "what is java"


class _BytePipe(_Pipe):
    """stdin as a real process gets it: text on top of a binary buffer."""

    def __init__(self, data: bytes) -> None:
        super().__init__("")
        self.buffer = io.BytesIO(data)


def test_options_may_follow_the_queries_or_precede_them(dev_export: Path) -> None:
    """``predict DIR --format jsonl "q"`` used to fail: options had to come after the queries."""
    code, text = _run([str(dev_export), "--format", "jsonl", "what is java", "--variant", "fp32", "how to cook"])
    assert code == 0
    assert [json.loads(line)["query"] for line in text.splitlines()] == ["what is java", "how to cook"]


def test_lines_are_split_on_newline_only(dev_export: Path, tmp_path: Path) -> None:
    """Form feed, NEL and U+2028 used to split a line in two, so output rows no longer matched input lines."""
    source = tmp_path / "q.txt"
    queries = ["what is\x0cjava", "who won\x85the cup", "how to\u2028cook", "plain one"]
    source.write_bytes(("\r\n".join(queries) + "\n\n").encode("utf-8"))
    code, text = _run([str(dev_export), "--file", str(source), "--format", "jsonl"])
    assert code == 0
    assert [json.loads(line)["query"] for line in text.splitlines()] == queries


def test_undecodable_input_names_the_line_and_classifies_nothing(dev_export: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Non-UTF-8 input used to give a raw UnicodeDecodeError traceback (exit 1)."""
    data = b"what is java\nbad \xff line\nhow to cook\n"
    source = tmp_path / "latin1.txt"
    source.write_bytes(data)
    for args, stdin in (([str(dev_export), "--file", str(source)], b""), ([str(dev_export)], data)):
        out = io.StringIO()
        assert _predict(args, _BytePipe(stdin), out) == 2
        err = capsys.readouterr().err
        assert out.getvalue() == "" and len(err.strip().splitlines()) == 1
        assert "line 2 (byte 0xff at column 5) not UTF-8; nothing was classified" in err


def test_nul_only_line_gets_no_label(dev_export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert _predict([str(dev_export)], _BytePipe(b"what is java\n\x00\x00\n"), out) == 2
    assert out.getvalue() == ""
    assert "stdin: line 2 holds only control characters" in capsys.readouterr().err


def test_long_queries_are_said_to_be_truncated(dev_export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run([str(dev_export), "short one", " ".join(["which"] * 100)])
    assert code == 0 and len(text.splitlines()) == 3
    assert "note: query 2 longer than 64 tokens: classified on the first 64 tokens." in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    ("truncate", "model.int8.onnx has"), ("empty", "model.int8.onnx has 0 bytes"),
    ("meta", "export.json is not valid JSON"), ("tokenizer", "tokenizer.json is missing")])
def test_broken_model_directories_are_one_line_exit_2(dev_export: Path, tmp_path: Path, damage: str, message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated graph, a broken export.json or a missing tokenizer used to give raw tracebacks (exit 1)."""
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.int8.onnx", "tokenizer.json", "export.json"):
        shutil.copyfile(dev_export / name, broken / name)
    graph = broken / "model.int8.onnx"
    if damage == "truncate":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "empty":
        graph.write_bytes(b"")
    elif damage == "meta":
        (broken / "export.json").write_text("{")
    else:
        (broken / "tokenizer.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "ambig_lib", "predict", str(broken), "what is java"],
                          capture_output=True, text=True, cwd=paths.REPO_ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr
