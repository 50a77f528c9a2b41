"""The transfer pool: the committed pool is large and holds no evaluation or development-slice text; dedup,
order and exclusion on a tiny example; the provenance round-trip and a tampered file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ambig_lib.core.text import normalise
from ambig_lib.data import pool
from ambig_lib.data.benchmarks import evaluation_texts, load_ambignq_dev_slice
from ambig_lib.data.pool import (
    AMBIGNQ_TRAIN_SOURCE,
    PoolError,
    build_transfer_pool,
    ensure_transfer_pool,
    load_transfer_pool,
    pool_tsv_bytes,
    provenance_path,
    read_pool_provenance,
    source_counts,
    write_transfer_pool,
)
from ambig_lib.data.teacher_sets import resolve_teacher_sets

HEADER = "topic\tinitial_request\tbinary_label\tuser_information_need\n"


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return load_transfer_pool()


def test_committed_pool_is_large_and_names_its_sources(committed: pd.DataFrame) -> None:
    assert len(committed) >= 25_000
    assert list(committed.columns) == ["query", "source"]
    assert set(committed["source"]) <= {*resolve_teacher_sets("all"), AMBIGNQ_TRAIN_SOURCE}
    assert (committed["source"] == AMBIGNQ_TRAIN_SOURCE).sum() > 9_000
    assert committed["query"].map(normalise).is_unique
    assert (committed["query"] == committed["query"].map(lambda t: " ".join(t.split()))).all()
    provenance = read_pool_provenance()
    assert provenance["rows"] == len(committed) and provenance["labels_read"] is False
    assert provenance["pool_file"] == "data/pool/transfer_pool.tsv"
    assert all(not str(s.get("file", "")).startswith("/") for s in provenance["sources"])


def test_committed_pool_holds_no_evaluation_or_development_text(committed: pd.DataFrame) -> None:
    blocked = evaluation_texts() | {" ".join(t.split()).casefold()
                                    for t in load_ambignq_dev_slice()["initial_request"]}
    assert len(blocked) > 4_000
    texts = committed["query"].tolist()
    assert not {" ".join(t.split()).casefold() for t in texts} & blocked
    assert not {normalise(t) for t in texts} & {normalise(t) for t in blocked}


def test_committed_pool_is_what_the_builder_gives_from_its_recorded_sources(committed: pd.DataFrame) -> None:
    """The pool is frozen to the sources its provenance names (its soft labels are keyed on its SHA); rebuilding
    from those sources gives the same bytes. A set added later joins only when the pool is rebuilt on purpose."""
    provenance = read_pool_provenance()
    sources = [s["source"] for s in provenance["sources"] if s["source"] != AMBIGNQ_TRAIN_SOURCE]
    fresh = build_transfer_pool(sources)
    assert pool_tsv_bytes(fresh) == pool_tsv_bytes(committed), (
        "data/pool/transfer_pool.tsv does not match its recorded sources. Fix: rebuild it with "
        "ambig_lib.data.pool.ensure_transfer_pool() and commit data/pool/.")
    counts = source_counts(fresh).set_index("source")
    assert counts.loc[AMBIGNQ_TRAIN_SOURCE, "excluded_exact"] == 500  # the development slice


@pytest.fixture
def tiny_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two tiny teacher sets (as paths), three AmbigNQ train questions, one evaluation and one dev-slice text."""
    first = tmp_path / "first_balanced_strict.tsv"
    first.write_text(HEADER + "t\tWhat is  Java?\t1\tn\n"
                              "t\twhat is java\t1\tn\n"
                              "t\tBest pizza\t1\tn\n"
                              "t\tWho won the 2018 world cup?\t0\tn\n"
                              "t\twho won the 2018 World Cup\t0\tn\n"
                              "t\t???\t0\tn\n", encoding="utf-8")
    second = tmp_path / "second_balanced_strict.tsv"
    second.write_text(HEADER + "t\tbest pizza!\t1\tn\nt\tNew query\t0\tn\n", encoding="utf-8")
    monkeypatch.setattr(pool, "ambignq_train_questions",
                        lambda: ["new query", "Dev slice question", "Fresh  train question"])
    monkeypatch.setattr(pool, "evaluation_texts", lambda: {"who won the 2018 world cup?"})
    monkeypatch.setattr(pool, "load_ambignq_dev_slice",
                        lambda: pd.DataFrame({"initial_request": ["dev slice  question"]}))
    return [str(first), str(second)]


def test_dedup_order_and_exclusion_on_a_tiny_example(tiny_sources: list[str]) -> None:
    frame = build_transfer_pool(tiny_sources)
    first, second = tiny_sources
    assert frame.to_dict("records") == [
        {"query": "What is Java?", "source": first}, {"query": "Best pizza", "source": first},
        {"query": "New query", "source": second},
        {"query": "Fresh train question", "source": AMBIGNQ_TRAIN_SOURCE}]
    counts = source_counts(frame).set_index("source")
    assert counts.loc[first].to_dict() == {"rows_read": 6, "empty": 1, "excluded_exact": 1,
                                           "excluded_normalised": 1, "duplicates": 1, "rows_kept": 2}
    assert counts.loc[second, "duplicates"] == 1
    assert counts.loc[AMBIGNQ_TRAIN_SOURCE, ["excluded_exact", "duplicates", "rows_kept"]].tolist() == [1, 1, 1]
    # the same inputs give the same pool
    assert pool_tsv_bytes(build_transfer_pool(tiny_sources)) == pool_tsv_bytes(frame)


def test_provenance_round_trip_and_a_tampered_file(tiny_sources: list[str], tmp_path: Path) -> None:
    frame = build_transfer_pool(tiny_sources)
    target = write_transfer_pool(frame, tmp_path / "pool" / "transfer_pool.tsv")
    back = load_transfer_pool(target)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True))
    provenance = json.loads(provenance_path(target).read_text(encoding="utf-8"))
    assert provenance["rows"] == 4 and provenance["exclusion"]["excluded_rows"] == {"exact": 2, "normalised": 1}
    assert provenance["sources"][-1]["file"] == "mirror:ambignq/train_light.json"
    assert len(provenance["sources"][0]["file_sha256"]) == 64 and "versions" in provenance
    assert ensure_transfer_pool(tiny_sources, target)[2] == "up to date"

    target.write_text(target.read_text(encoding="utf-8").replace("Best pizza", "Best pizzas"), encoding="utf-8")
    with pytest.raises(PoolError, match=r"transfer_pool\.tsv: SHA-256 .* differs .* Fix: "):
        load_transfer_pool(target)
    assert ensure_transfer_pool(tiny_sources, target)[2] == "written"
    assert len(load_transfer_pool(target)) == 4
    provenance_path(target).unlink()
    with pytest.raises(PoolError, match="provenance.json is missing"):
        load_transfer_pool(target)


def test_a_frame_without_build_record_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PoolError, match="build record"):
        write_transfer_pool(pd.DataFrame({"query": ["a"], "source": ["x"]}), tmp_path / "p.tsv")
