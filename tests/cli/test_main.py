"""``ambig`` / ``python -m ambig_lib``: the subcommands, their help and examples, the shared options, and the exit
status contract (0 success, 2 user error in one line, 1 internal error with the traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ambig_lib.cli import common
from ambig_lib.cli.main import COMMANDS, build_parser, main
from ambig_lib.core import paths

PIPELINE = ("generate", "inspect", "train", "evaluate", "llm-direct", "export", "predict", "latency", "study")


def _python(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(paths.REPO_ROOT),
                                                                   os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=paths.REPO_ROOT, env=env,
                          input=stdin, timeout=300)


def _one_line_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_module_help_lists_every_subcommand_without_importing_torch() -> None:
    proc = _python("-m", "ambig_lib", "--help")
    assert proc.returncode == 0, proc.stderr
    for name in (*PIPELINE, "reproduce", "datasets", "strategies"):
        assert f"    {name} " in proc.stdout, name
    assert "Example" in proc.stdout
    probe = _python("-c", "import contextlib, io, sys\n"
                          "from ambig_lib.cli.main import main\n"
                          "with contextlib.redirect_stdout(io.StringIO()):\n"
                          "    code = main(['--help'])\n"
                          "print(code, 'torch' in sys.modules, 'transformers' in sys.modules)")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["0", "False", "False"]


def test_every_subcommand_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(PIPELINE) <= set(COMMANDS)
    for name in COMMANDS:
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"usage: ambig {name}" in out
        assert "\nExample:\n  ambig " in out or "\nExample:\n  cat " in out, name


def test_the_shared_options_are_the_same_everywhere() -> None:
    _, subs = build_parser()
    for name in ("generate", "llm-direct", "train", "export"):
        assert "--option" in subs[name]._option_string_actions, name
    for name in ("generate", "llm-direct", "train", "inspect", "evaluate", "export", "study"):
        assert "--offline" in subs[name]._option_string_actions, name
    for name in ("generate", "llm-direct", "train", "inspect", "evaluate", "export", "predict", "latency", "study"):
        assert "--threads" in subs[name]._option_string_actions, name


@pytest.mark.parametrize("item, message", [("n_ctx", "expected key=value"), ("=1", "expected key=value"),
                                           ("n_ctx=[1", "not valid YAML")])
def test_parse_options(item: str, message: str) -> None:
    assert common.parse_options(["n_ctx=4096", "progress=false", "base_url=http://h:8000/v1"]) == \
        {"n_ctx": 4096, "progress": False, "base_url": "http://h:8000/v1"}
    with pytest.raises(common.UsageError, match=message):
        common.parse_options([item])


def test_malformed_option_is_one_line_exit_2_from_the_module() -> None:
    proc = _python("-m", "ambig_lib", "train", "--teachers", "seed/gpt-4.1", "--option", "learning_rate")
    assert proc.returncode == 2
    _one_line_error(proc.stderr, "--option 'learning_rate': expected key=value")
    assert "torch" not in proc.stderr


def test_train_option_must_be_a_trainconfig_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--teachers", "seed/gpt-4.1", "--option", "learning_rat=3e-5"]) == 2
    _one_line_error(capsys.readouterr().err, "learning_rat: not a TrainConfig field", "learning_rate")


def test_train_config_defaults_come_from_the_dataclass() -> None:
    """The flags used to hard-code TrainConfig's defaults (folds 5, epochs 10, max_length 64)."""
    from ambig_lib.cli import train
    from ambig_lib.training.finetune import TrainConfig

    _, subs = build_parser()
    args = subs["train"].parse_args([])
    assert train.train_config(args) == TrainConfig()
    args = subs["train"].parse_args(["--epochs", "3", "--option", "learning_rate=3e-5", "--no-fold-models"])
    assert train.train_config(args) == TrainConfig(max_epochs=3, learning_rate=3e-5, save_fold_models=False)


def test_unknown_teacher_set_for_train_is_one_line_exit_2() -> None:
    proc = _python("-m", "ambig_lib", "train", "--students", "minilm", "--teachers", "seed/no-such-set",
                   "--seeds", "0")
    assert proc.returncode == 2, proc.stderr
    _one_line_error(proc.stderr, "Unknown teacher set 'seed/no-such-set'", "Registered: ")


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--seeds", "x"]) == 2
    _one_line_error(capsys.readouterr().err, "ambig train: argument --seeds", "see ambig train --help")
    assert main(["no-such-command"]) == 2
    _one_line_error(capsys.readouterr().err, "invalid choice: 'no-such-command'")
    assert main([]) == 2
    _one_line_error(capsys.readouterr().err, "required: <subcommand>")
    assert main(["export"]) == 2
    _one_line_error(capsys.readouterr().err, "give a model directory or --teacher")


def test_internal_error_is_exit_1_with_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from ambig_lib.cli import inspect

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(inspect, "run_inspection", broken)
    assert main(["inspect", "--no-write"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err and "internal error" in err


def test_interrupt_is_one_line_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ambig_lib.cli import strategies

    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(strategies, "build_all", interrupted)
    assert main(["strategies"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted."]


def test_offline_and_threads_apply_only_while_the_command_runs(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from ambig_lib.cli import inspect

    for name in (paths.OFFLINE_ENV, *common.THREAD_ENVS):
        monkeypatch.delenv(name, raising=False)
    seen: dict[str, str | None] = {}

    def record(*args: object, **kwargs: object) -> None:
        seen.update({name: os.environ.get(name) for name in (paths.OFFLINE_ENV, *common.THREAD_ENVS)})
        raise common.UsageError("stop here")

    monkeypatch.setattr(inspect, "run_inspection", record)
    assert main(["inspect", "--offline", "--threads", "3"]) == 2
    assert seen == {paths.OFFLINE_ENV: "1", "AMBIG_TORCH_THREADS": "3", "AMBIG_LLAMA_THREADS": "3"}
    assert all(name not in os.environ for name in seen)
    _one_line_error(capsys.readouterr().err, "stop here")
    assert main(["inspect", "--threads", "0"]) == 2
    _one_line_error(capsys.readouterr().err, "argument --threads: 0 is not >= 1")


def test_run_all_calls_the_study_subcommand() -> None:
    script = (paths.REPO_ROOT / "run_all.sh").read_text(encoding="utf-8")
    assert 'exec python -m ambig_lib study "$@"' in script


def test_pyproject_registers_only_ambig() -> None:
    text = (paths.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert [line.strip() for line in scripts.strip().splitlines()] == ['ambig = "ambig_lib.cli.main:main"']


def test_library_modules_hold_no_argparse() -> None:
    package = Path(paths.REPO_ROOT / "ambig_lib")
    offenders = [p.relative_to(package).as_posix() for p in package.rglob("*.py")
                 if "import argparse" in p.read_text(encoding="utf-8") and p.parent.name != "cli"]
    assert offenders == []
