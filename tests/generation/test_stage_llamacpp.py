"""Generation end to end with the real Qwen2.5-Coder-0.5B GGUF through the llama.cpp backend (2 topics).

llama.cpp's kernels differ between CPUs (AVX2, AVX-512, VNNI) and thread counts, so the sampled text, and
whether the 0.5B model satisfies the validator on a given topic, differ too. These tests therefore assert
invariants that hold on any machine, not that the model succeeds:

- every answer is either accepted into the set or recorded in the failures file with a reason;
- a re-run from the cache is byte-identical (with another thread count: threads are not part of the key);
- a run killed after its first answer resumes to the uninterrupted run's output.

One uninterrupted run is shared by the module (it may end with every topic given up: ``EmptySetError``, which
is a valid outcome here); the other tests re-run against its cache (no model call) or interrupt a fresh run
after its first teacher call and resume it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from ambig_lib.cli.main import main  # noqa: E402
from ambig_lib.data.teacher_sets import load_teacher_set  # noqa: E402
from ambig_lib.generation.stage import EmptySetError, GenerationConfig, generate_set, output_paths
from ambig_lib.generation.topics import load_topics  # noqa: E402
from ambig_lib.teachers.base import ChatRequest, ChatResponse  # noqa: E402
from ambig_lib.teachers.llamacpp import LlamaCppTeacher  # noqa: E402

TEACHER = "qwen2.5-coder-0.5b"
MAX_ATTEMPTS = 2  # bounds the test at 4 model calls per run (about 15 s each on 2 quiet cores)
TOPICS = tuple(load_topics(limit=2))  # Activism, Aging: what the CLI takes with --limit 2
#: One fixed thread count for every real call of the module: a resumed run must sample like the first one,
#: which holds for one thread count on one machine (the "auto" count follows the load and may change mid-test).
#: One thread: on a busy CPU, llama.cpp threads that outnumber the free cores spin (see ambig_lib.core.cpu).
THREADS = 1
#: Stages after validation that remove a pair (each removal is a line of the failures file).
REMOVAL_STAGES = {"bad_replacement", "multi_question", "exact_duplicate", "near_duplicate"}


@dataclass
class Outcome:
    """What one generation run left on disk, whether or not any topic validated."""

    out_dir: Path
    files: dict[str, Path]
    provenance: dict[str, Any]
    empty: bool  # every topic gave up: EmptySetError, no TSV

    def read(self, key: str) -> bytes | None:
        return self.files[key].read_bytes() if self.files[key].is_file() else None


class NoCallTeacher:
    """Proxies identity() of a real teacher but fails the test if asked to complete anything."""

    def __init__(self, inner: LlamaCppTeacher) -> None:
        self.inner, self.name = inner, inner.name

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        raise AssertionError(f"model called for {len(requests)} request(s); everything should be cached")


class CrashAfter:
    """The real teacher, but the process 'dies' (an exception) on the teacher call after ``calls`` calls."""

    def __init__(self, inner: LlamaCppTeacher, calls: int) -> None:
        self.inner, self.name, self.left = inner, inner.name, calls

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        if self.left == 0:
            raise KeyboardInterrupt("simulated kill mid-run")
        self.left -= 1
        return self.inner.complete(requests)


@pytest.fixture(scope="module")
def teacher() -> LlamaCppTeacher:
    return LlamaCppTeacher(TEACHER, n_ctx=4096, n_threads=THREADS, progress=False)


def make_config() -> GenerationConfig:
    # the seed style: the 0.5B model rarely satisfies length_matched's stricter checks (it copies the query)
    return GenerationConfig.for_teacher(TEACHER, "seed", TOPICS, seed=0, max_attempts=MAX_ATTEMPTS)


def run(teacher: Any, out_dir: Path) -> Outcome:
    """Generate into ``out_dir``; an all-failed run (EmptySetError) is an outcome, not an error."""
    try:
        generate_set(teacher, make_config(), out_dir=out_dir, progress=False)
        empty = False
    except EmptySetError:
        empty = True
    files = output_paths(make_config(), out_dir)
    return Outcome(out_dir, files, json.loads(files["provenance"].read_text()), empty)


@pytest.fixture(scope="module")
def first_run(teacher: LlamaCppTeacher, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return run(teacher, tmp_path_factory.mktemp("first"))


def test_every_answer_is_accepted_or_recorded_with_a_reason(first_run: Outcome) -> None:
    prov, files = first_run.provenance, first_run.files
    counts = prov["counts"]
    # a teacher name with dots ("qwen2.5-...") must not lose part of the stem to a suffix
    assert files["tsv"].name == f"qwen2.5-coder-0.5b_seed_topics2_attempts{MAX_ATTEMPTS}_balanced_strict.tsv"
    assert files["tsv"].parent.name == "variants"  # a partial run never takes the canonical name
    assert counts["topics_requested"] == 2 and counts["rows_requested"] == 20
    assert counts["attempts"] == counts["attempts_valid"] + counts["attempts_failed"] == prov["this_run"]["model_calls"]
    assert 2 <= counts["attempts"] <= 2 * MAX_ATTEMPTS  # one try per topic at least, MAX_ATTEMPTS at most
    assert counts["topics_valid"] + counts["topics_gave_up"] == 2
    assert counts["attempts_valid"] == counts["topics_valid"]  # a topic stops at its first valid answer
    # every answer the model gave is in the cache, in order of the calls
    assert len(files["cache"].read_text().splitlines()) == counts["attempts"]
    # every rejected answer and every topic given up is in the failures file, each with a reason
    failures = [json.loads(line) for line in files["failures"].read_text().splitlines()]
    assert {f["stage"] for f in failures} <= REMOVAL_STAGES | {"validation", "gave_up"}
    assert all(f["reason"] for f in failures if f["stage"] in ("validation", "gave_up"))
    assert sum(f["stage"] == "validation" for f in failures) == counts["attempts_failed"]
    assert sorted(f["topic"] for f in failures if f["stage"] == "gave_up") == sorted(prov["topics_gave_up"])
    assert len(prov["topics_gave_up"]) == counts["topics_gave_up"]
    # every pair that passed validation is either written or recorded as removed, with the stage that removed it
    removed_pairs = sum(f["stage"] in REMOVAL_STAGES for f in failures)
    assert counts["rows_valid"] == counts["rows_written"] + 2 * removed_pairs
    assert (counts["rows_valid"] > 0) == (counts["topics_valid"] > 0)
    assert counts["rows_valid"] >= counts["rows_after_single_question_filter"] >= counts["rows_after_exact_dedup"] \
        >= counts["rows_after_near_dedup"] == counts["rows_written"] == counts["label_0"] + counts["label_1"]
    assert counts["label_0"] == counts["label_1"]
    assert prov["teacher"]["sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert prov["sampling"] == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 1024, "seed": 0}
    assert prov["tokens"]["completion"] > 0 and prov["this_run"]["completion_tokens_per_s"] > 0
    if first_run.empty:  # every topic gave up: no TSV, and the provenance says so
        assert counts["rows_written"] == 0 and not files["tsv"].exists() and prov["files"]["tsv"] is None
        return
    frame = load_teacher_set(files["tsv"])
    assert len(frame) == counts["rows_written"] > 0
    assert prov["files"]["tsv"] == files["tsv"].name
    assert set(frame["topic"]) <= set(TOPICS) - set(prov["topics_gave_up"])
    pairs = frame.groupby("pair_id")
    assert pairs["binary_label"].agg(lambda labels: sorted(labels) == [0, 1]).all()
    assert (pairs["initial_request"].nunique() == 2).all()


def test_second_run_is_served_from_cache_byte_identical(first_run: Outcome, tmp_path: Path) -> None:
    # another thread count: threads change how llama.cpp sums, never which cached answer a request gets
    other = LlamaCppTeacher(TEACHER, n_ctx=4096, n_threads=THREADS + 1, progress=False)
    shutil.copy(first_run.files["cache"], tmp_path / first_run.files["cache"].name)
    again = run(NoCallTeacher(other), tmp_path)
    assert again.empty == first_run.empty
    for key in ("tsv", "failures", "cache"):
        assert again.read(key) == first_run.read(key), key
    assert again.provenance["this_run"]["model_calls"] == 0
    assert again.provenance["this_run"]["cache_hits"] == first_run.provenance["counts"]["attempts"]
    assert again.provenance["counts"] == first_run.provenance["counts"]


def test_killed_run_resumes_to_the_uninterrupted_output(first_run: Outcome, teacher: LlamaCppTeacher,
                                                        tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        generate_set(CrashAfter(teacher, calls=1), make_config(), out_dir=tmp_path, progress=False)
    files = output_paths(make_config(), tmp_path)
    assert len(files["cache"].read_text().splitlines()) == 1  # the first answer survived the crash
    assert not files["tsv"].exists()  # no half-written set
    resumed = run(teacher, tmp_path)
    assert resumed.provenance["this_run"]["cache_hits"] >= 1
    assert resumed.provenance["this_run"]["model_calls"] == first_run.provenance["counts"]["attempts"] - 1
    assert resumed.empty == first_run.empty
    for key in ("tsv", "failures", "cache"):
        assert resumed.read(key) == first_run.read(key), key


def test_cli_rebuilds_offline_from_the_cache(first_run: Outcome, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(first_run.files["cache"], tmp_path / first_run.files["cache"].name)
    argv = ["--teacher", TEACHER, "--prompt", "seed", "--limit", "2", "--seed", "0",
            "--max-attempts", str(MAX_ATTEMPTS), "--out-dir", str(tmp_path), "--offline", "--no-progress"]
    if first_run.empty:
        assert main(["generate", *argv]) != 0  # nothing to write: a clear failure, not an empty set
        assert "no topic" in capsys.readouterr().err
    else:
        assert main(["generate", *argv]) == 0
        assert '"rows_written"' in capsys.readouterr().out
    files = output_paths(make_config(), tmp_path)  # a partial run: written under variants/
    assert files["tsv"].parent == tmp_path / "variants"
    assert (files["tsv"].read_bytes() if files["tsv"].is_file() else None) == first_run.read("tsv")
    assert files["failures"].read_bytes() == first_run.read("failures")
