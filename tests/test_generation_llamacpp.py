"""Generation end to end with the real Qwen2.5-Coder-0.5B GGUF through the llama.cpp backend (2 topics).

One uninterrupted run is shared by the module; the other tests re-run against its cache (no model call)
or interrupt a fresh run after its first teacher call and resume it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from ambig_lib.generate import main as generate_main  # noqa: E402
from ambig_lib.generation import GenerationConfig, GenerationResult, generate_set  # noqa: E402
from ambig_lib.teacher_sets import load_teacher_set  # noqa: E402
from ambig_lib.teachers.base import ChatRequest, ChatResponse  # noqa: E402
from ambig_lib.teachers.llamacpp import LlamaCppTeacher  # noqa: E402
from ambig_lib.topics import load_topics  # noqa: E402

TEACHER = "qwen2.5-coder-0.5b"
MAX_ATTEMPTS = 2  # bounds the test at 4 model calls per run (about 15 s each on 2 quiet cores)
TOPICS = tuple(load_topics(limit=2))  # Activism, Aging: what the CLI takes with --limit 2


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
    return LlamaCppTeacher(TEACHER, n_ctx=4096, progress=False)  # threads: auto (fewer on a busy CPU)


def make_config() -> GenerationConfig:
    # the seed style: the 0.5B model rarely satisfies length_matched's stricter checks (it copies the query)
    return GenerationConfig.for_teacher(TEACHER, "seed", TOPICS, seed=0, max_attempts=MAX_ATTEMPTS)


@pytest.fixture(scope="module")
def first_run(teacher: LlamaCppTeacher, tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    return generate_set(teacher, make_config(), out_dir=tmp_path_factory.mktemp("first"), progress=False)


def test_real_model_generates_a_valid_balanced_set(first_run: GenerationResult, teacher: LlamaCppTeacher) -> None:
    frame = first_run.frame
    assert len(frame) >= 2 * 5  # at least one of the two topics validated (an empty set raises EmptySetError)
    assert load_teacher_set(first_run.tsv_path)["initial_request"].tolist() == frame["initial_request"].tolist()
    prov = json.loads(first_run.provenance_path.read_text())
    counts = prov["counts"]
    # a teacher name with dots ("qwen2.5-...") must not lose part of the stem to a suffix
    assert first_run.tsv_path.name == "qwen2.5-coder-0.5b_seed_topics2_attempts2_balanced_strict.tsv"  # a variant
    assert prov["files"]["tsv"] == first_run.tsv_path.name and first_run.tsv_path.is_file()
    assert counts["topics_requested"] == 2 and counts["rows_requested"] == 20
    assert counts["attempts"] == counts["attempts_valid"] + counts["attempts_failed"] == prov["this_run"]["model_calls"]
    assert counts["rows_written"] == len(frame) == counts["label_0"] + counts["label_1"]
    assert counts["label_0"] == counts["label_1"]
    assert counts["rows_valid"] >= counts["rows_after_single_question_filter"] >= counts["rows_after_exact_dedup"] \
        >= counts["rows_after_near_dedup"] \
        == counts["rows_written"]
    # the 0.5B model is weak: each topic either validated or was reported as given up, with every failed
    # answer in the failures file
    assert counts["topics_valid"] + counts["topics_gave_up"] == 2
    assert set(frame["topic"]) <= set(TOPICS)
    pairs = frame.groupby("pair_id")
    assert pairs["binary_label"].agg(lambda labels: sorted(labels) == [0, 1]).all()
    assert (pairs["initial_request"].nunique() == 2).all()
    assert prov["teacher"]["sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert prov["tokens"]["completion"] > 100 and prov["this_run"]["completion_tokens_per_s"] > 0
    assert prov["sampling"] == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 1024, "seed": 0}
    failures = [json.loads(line) for line in first_run.failures_path.read_text().splitlines()]
    assert sum(f["stage"] == "validation" for f in failures) == counts["attempts_failed"]
    cache_lines = first_run.cache_path.read_text().splitlines()
    assert len(cache_lines) == counts["attempts"]


def test_second_run_is_served_from_cache_byte_identical(first_run: GenerationResult, teacher: LlamaCppTeacher,
                                                        tmp_path: Path) -> None:
    shutil.copy(first_run.cache_path, tmp_path / first_run.cache_path.name)
    again = generate_set(NoCallTeacher(teacher), make_config(), out_dir=tmp_path, progress=False)
    assert again.tsv_path.read_bytes() == first_run.tsv_path.read_bytes()
    assert again.failures_path.read_bytes() == first_run.failures_path.read_bytes()
    assert again.provenance["this_run"]["model_calls"] == 0
    assert again.provenance["this_run"]["cache_hits"] == first_run.counts["attempts"]


def test_killed_run_resumes_to_the_uninterrupted_output(first_run: GenerationResult, teacher: LlamaCppTeacher,
                                                        tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        generate_set(CrashAfter(teacher, calls=1), make_config(), out_dir=tmp_path, progress=False)
    cache = tmp_path / first_run.cache_path.name
    assert len(cache.read_text().splitlines()) == 1  # the first answer survived the crash
    assert not (tmp_path / "variants" / first_run.tsv_path.name).exists()  # no half-written set
    resumed = generate_set(teacher, make_config(), out_dir=tmp_path, progress=False)
    assert resumed.provenance["this_run"]["cache_hits"] >= 1
    assert resumed.provenance["this_run"]["model_calls"] == first_run.counts["attempts"] - 1
    assert resumed.tsv_path.read_bytes() == first_run.tsv_path.read_bytes()
    assert cache.read_bytes() == first_run.cache_path.read_bytes()


def test_cli_rebuilds_offline_from_the_cache(first_run: GenerationResult, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(first_run.cache_path, tmp_path / first_run.cache_path.name)
    code = generate_main(["--teacher", TEACHER, "--prompt", "seed", "--limit", "2", "--seed", "0",
                          "--max-attempts", str(MAX_ATTEMPTS), "--out-dir", str(tmp_path), "--offline", "--no-progress"])
    assert code == 0
    assert (tmp_path / first_run.tsv_path.name).read_bytes() == first_run.tsv_path.read_bytes()
    assert '"rows_written"' in capsys.readouterr().out
