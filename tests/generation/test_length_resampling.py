"""Length resampling: both labels get the same word counts, no row is used twice, the control keeps the length
cue, and the sets are written and load by name."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from ambig_lib.data import teacher_sets
from ambig_lib.generation import strategies
from ambig_lib.generation.length_resampling import (
    CHAR_BIN_WIDTH,
    LONG_QUERY_WORDS,
    LengthResamplingError,
    length_bin,
    length_resampled_frame,
    random_draw_frame,
    source_rows,
    word_count_bin,
)


def _confounded() -> list[tuple[str, pd.DataFrame]]:
    """Ambiguous queries mostly 2-5 words, specific ones 5-9: length alone nearly separates them."""
    rows = []
    for i in range(300):
        amb_words, spec_words = 2 + i % 4 + (4 if i % 10 == 0 else 0), 5 + i % 5
        rows.append((f"t{i % 7}", " ".join(f"a{i}w{k}" for k in range(amb_words)), 1))
        rows.append((f"t{i % 7}", " ".join(f"s{i}w{k}" for k in range(spec_words)), 0))
    frame = pd.DataFrame(rows, columns=["topic", "initial_request", "binary_label"])
    first = frame.at[0, "initial_request"]
    duplicate = pd.DataFrame([("t0", "  " + first.upper(), 1)], columns=frame.columns)  # case and spaces differ
    return [("set/one", frame.iloc[:300]), ("set/two", pd.concat([frame.iloc[300:], duplicate]))]


def test_word_count_bin_pools_long_queries() -> None:
    assert word_count_bin("what  is java ") == 3
    assert length_bin("what  is java ") == (3, len("what is java") // CHAR_BIN_WIDTH) == (3, 2)
    assert word_count_bin(" ".join(["w"] * 40)) == LONG_QUERY_WORDS == word_count_bin(" ".join(["w"] * 25))


def test_resampled_labels_share_their_word_counts_and_the_control_does_not() -> None:
    rows = source_rows(_confounded())
    assert len(rows) == 600 and set(rows["intent"]) == {"set/one", "set/two"}  # the duplicate is dropped
    bins = rows["initial_request"].map(length_bin)
    available = sum(min(((bins == b) & (rows["binary_label"] == y)).sum() for y in (0, 1)) for b in set(bins))
    by_words = sum(min(((rows["initial_request"].map(word_count_bin) == b) & (rows["binary_label"] == y)).sum()
                       for y in (0, 1)) for b in range(1, LONG_QUERY_WORDS + 1))
    assert 80 < available <= by_words < 150  # only the 5-9-word ambiguous queries have partners
    frame = length_resampled_frame(rows, 80, seed=1)
    assert len(frame) == 160 and Counter(frame["binary_label"]) == {0: 80, 1: 80}
    assert frame["initial_request"].is_unique and set(frame["initial_request"]) <= set(rows["initial_request"])
    words = frame["initial_request"].map(word_count_bin)
    chars = frame["initial_request"].str.len()
    for _, pair in frame.groupby("pair_id"):
        assert pair["binary_label"].tolist() == [0, 1] and words[pair.index].nunique() == 1
        assert (chars[pair.index] // CHAR_BIN_WIDTH).nunique() == 1
    assert Counter(words[frame["binary_label"] == 0]) == Counter(words[frame["binary_label"] == 1])
    assert (frame.loc[frame["binary_label"] == 1, "ambiguity_type"] == "length_resampled").all()
    pd.testing.assert_frame_equal(frame, length_resampled_frame(rows, 80, seed=1))  # seeded
    assert not frame.equals(length_resampled_frame(rows, 80, seed=2))
    with pytest.raises(LengthResamplingError, match=rf"Only {available} length-matched pairs exist in the sources, "
                       rf"{available + 1} asked"):
        length_resampled_frame(rows, available + 1)
    assert len(length_resampled_frame(rows, available)) == 2 * available

    control = random_draw_frame(rows, 80, seed=1)
    assert len(control) == 160 and Counter(control["binary_label"]) == {0: 80, 1: 80}
    mean = control.assign(w=control["initial_request"].map(word_count_bin)).groupby("binary_label")["w"].mean()
    assert mean[0] - mean[1] > 2.5  # the draw keeps the length cue the resampling removes
    with pytest.raises(LengthResamplingError, match="300 specific and 300 ambiguous queries, 301 of each asked"):
        random_draw_frame(rows, 301)


def test_length_resampled_sets_are_written_with_provenance_and_load_by_name(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIG_DATA_DIR", str(tmp_path))
    strategy, control = strategies.build_length_resampled(sources=["seed/gpt-4.1"], pairs=60)
    assert strategy.name == "length_resampled_balanced_strict.tsv"
    assert control.name == "length_resampled-control_balanced_strict.tsv"
    loaded = teacher_sets.load_teacher_set("strategy/length_resampled")
    assert Counter(loaded["binary_label"]) == {0: 60, 1: 60}
    provenance = json.loads(strategy.with_name("length_resampled_balanced_strict.provenance.json").read_text())
    assert provenance["mean_words"]["specific"] == provenance["mean_words"]["ambiguous"]
    chars = loaded["initial_request"].str.len().groupby(loaded["binary_label"]).mean()
    assert abs(chars[0] - chars[1]) < CHAR_BIN_WIDTH  # within one character bin on average, by construction
    assert provenance["sources"] == ["seed/gpt-4.1"] and provenance["strategy"] == "length_resampled"
    record = json.loads(control.with_name("length_resampled-control_balanced_strict.provenance.json").read_text())
    assert record["control_of"] == "strategy/length_resampled" and record["strategy"] == "random_draw_control"
    assert record["mean_words"]["specific"] > record["mean_words"]["ambiguous"]
    assert {"strategy/length_resampled", "strategy/length_resampled-control"} <= set(
        teacher_sets.resolve_teacher_sets("strategies"))
