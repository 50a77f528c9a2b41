"""The ``ambig`` subcommands against user mistakes: one clear line on stderr and exit status 2, never a traceback;
the README's partial generate example never touches the committed set; Ctrl-C is one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from assertions import assert_one_line_error

from ambig_lib.cli.main import main
from ambig_lib.core import paths
from ambig_lib.generation.stage import GenerationConfig, output_paths
from ambig_lib.generation.topics import load_topics
from ambig_lib.teachers.cache import CachedTeacher

COMMITTED = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "length_matched", load_topics())


@pytest.fixture
def synthetic_copy(tmp_path: Path) -> Path:
    """A copy of the committed length_matched set: TSV, provenance, failures and its response cache."""
    folder = tmp_path / "synthetic"
    folder.mkdir()
    for path in output_paths(COMMITTED, paths.synthetic_dir()).values():
        shutil.copy2(path, folder / path.name)
    return folder


def test_readme_partial_generate_example_keeps_the_committed_set(synthetic_copy: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``generate --prompt length_matched --limit 3 --offline`` used to replace the 670-row set with 20 rows."""
    committed = output_paths(COMMITTED, synthetic_copy)
    before = {k: p.read_bytes() for k, p in committed.items()}
    code = main(["generate", "--prompt", "length_matched", "--limit", "3", "--offline", "--no-progress",
                          "--out-dir", str(synthetic_copy)])
    assert code == 0, capsys.readouterr().err
    assert {k: p.read_bytes() for k, p in committed.items()} == before  # answered from the cache, nothing added
    partial = synthetic_copy / "variants" / "qwen2.5-coder-1.5b_length_matched_topics3_balanced_strict.tsv"
    assert partial.is_file() and str(partial) in capsys.readouterr().out


def test_generate_refuses_to_replace_a_set_made_with_other_settings(synthetic_copy: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    provenance = output_paths(COMMITTED, synthetic_copy)["provenance"]
    provenance.write_text(provenance.read_text().replace('"max_attempts": 4', '"max_attempts": 5'))
    before = output_paths(COMMITTED, synthetic_copy)["tsv"].read_bytes()
    code = main(["generate", "--prompt", "length_matched", "--offline", "--no-progress", "--out-dir",
                 str(synthetic_copy)])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "other settings (max_attempts: 5 there, 4 now)", "--force")
    assert output_paths(COMMITTED, synthetic_copy)["tsv"].read_bytes() == before


@pytest.mark.parametrize("command", ["generate", "llm-direct"])
@pytest.mark.parametrize("option, message", [("bogus=1", "--option bogus: not an option of backend 'llamacpp'"),
                                             ("n_ctx", "expected key=value"),
                                             ("n_ctx=[1", "not valid YAML")])
def test_bad_backend_options_are_one_line(command: str, option: str, message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``--option bogus=1`` used to raise a raw TypeError."""
    extra = ["--out-dir", str(tmp_path)] if command == "generate" else ["--cache", str(tmp_path / "c.jsonl")]
    assert main([command, "--option", option, "--offline", *extra]) == 2
    assert_one_line_error(capsys.readouterr().err, message)


@pytest.mark.parametrize("limit", ["-1", "0", "two"])
def test_llm_direct_limit_must_be_positive(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--limit -1`` used to drop the last query silently and print metrics; ``--limit 0`` printed no rows."""
    assert main(["llm-direct", "--limit", limit, "--offline"]) == 2
    err = capsys.readouterr().err
    assert "argument --limit:" in err and "Traceback" not in err
    assert_one_line_error(err, "ambig llm-direct: argument --limit:")


def test_training_grid_bad_teacher_set_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A teacher set with bad labels used to print a 28-line traceback."""
    bad = tmp_path / "bad_labels.tsv"
    bad.write_text("topic\tinitial_request\tbinary_label\tuser_information_need\nA\tq one\tmaybe\tn\n")
    assert main(["train", "--students", "minilm", "--teachers", str(bad), "--seeds", "0"]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{bad}, line 2: binary_label is 'maybe'")


def test_training_grid_unknown_prediction_set_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--students", "minilm", "--teachers", "seed/gpt-4.1", "--datasets", "clariq", "clambr"]) == 2
    assert_one_line_error(capsys.readouterr().err, "--datasets: unknown set(s) ['clambr']")


def test_transfer_expands_to_every_known_set_once() -> None:
    from ambig_lib.cli.train import prediction_sets

    assert prediction_sets(["ambignq", "transfer"]) == ["ambignq", "clariq", "clariq_test", "clamber", "clamber_icl",
                                                        "ambignq_train_dev"]


class _Interrupting:
    """A teacher that answers ``answers`` requests, then is interrupted (Ctrl-C)."""

    name = "interrupting"

    def __init__(self, answers: int) -> None:
        self.left = answers

    def identity(self) -> dict[str, str]:
        return {"backend": "interrupting"}

    def complete(self, requests):  # noqa: ANN001, ANN201
        from ambig_lib.teachers.base import ChatResponse

        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return [ChatResponse(text='{"ambiguous": "yes"}', finish_reason="stop") for _ in requests]


def test_interrupt_is_one_line_with_the_cached_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C used to print a 40-line traceback."""
    import ambig_lib.compare.llm_direct as llm_direct

    monkeypatch.setattr(llm_direct, "build_direct_teacher", lambda *a, **k: _Interrupting(answers=2))
    assert main(["llm-direct", "--teacher", "x", "--limit", "5", "--cache", str(tmp_path / "c.jsonl")]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"interrupted; 2 new answers cached in this run (2 in {tmp_path / 'c.jsonl'}"
                                            "), re-run the same command to resume.")
    assert len(CachedTeacher(_Interrupting(0), tmp_path / "c.jsonl")) == 2


def test_module_entry_points_exit_2_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ambig_lib", "generate", "--option", "bogus=1", "--offline",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, cwd=paths.REPO_ROOT,
                          timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "bogus")
