"""Augmented transfer queries: each operation does what it says, variants are seeded, new, never an evaluation
text and never made from held-out rows; the committed file is what the builder gives and its provenance is
checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_file
from ambig_lib.core.text import normalise
from ambig_lib.data import pool_augmentation
from ambig_lib.data.benchmarks import evaluation_texts, load_ambignq_dev_slice
from ambig_lib.data.pool import PoolError, load_transfer_pool, provenance_path
from ambig_lib.data.pool_augmentation import (
    AugmentConfig,
    augment_query,
    augmented_pool_path,
    build_augmented_pool,
    ensure_augmented_pool,
)

QUERY = "what year was the eiffel tower in paris finished"


def test_deletion_keeps_the_order_of_the_words_it_keeps() -> None:
    rng = np.random.default_rng(0)
    config = AugmentConfig(p_delete=0.5, p_ngram=0.0)
    made = [augment_query(QUERY, rng, config) for _ in range(50)]
    words = QUERY.split()
    for text, how in made:
        kept = text.split()
        assert how in ("deletion", "none") and (how == "none") == (kept == words)
        positions = [words.index(w) for w in kept]
        assert positions == sorted(positions) and len(kept) >= 1
    assert sum(how == "deletion" for _, how in made) > 40  # 1 - 0.5^9 of them, nearly all


def test_an_ngram_is_a_shorter_contiguous_run_of_at_most_max_ngram_words() -> None:
    rng = np.random.default_rng(1)
    config = AugmentConfig(p_delete=0.0, p_ngram=1.0, max_ngram=3)
    lengths = set()
    for _ in range(60):
        text, how = augment_query(QUERY, rng, config)
        assert how == "ngram" and text in QUERY and 1 <= len(text.split()) <= 3
        lengths.add(len(text.split()))
    assert lengths == {1, 2, 3}
    assert augment_query("paris", rng, config) == ("paris", "none")  # one word: nothing shorter to keep


def test_variants_are_seeded_new_and_never_blocked_or_from_held_out_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    queries = [f"what is the capital city of country number {i} today" for i in range(40)]
    queries += ["tell me about the kiwi bird please"]
    monkeypatch.setattr(pool_augmentation, "blocked_texts", lambda: {
        "exact": {"tell me about kiwi"}, "normalised": {normalise("tell me about the kiwi")}})
    origin = list(range(1, 41))  # row 0 is held out
    config = AugmentConfig(variants=150, p_delete=0.3, p_ngram=0.5)
    frame = build_augmented_pool(queries, origin, config)
    assert len(frame) == 150 and list(frame.columns) == ["query", "source"]
    assert frame.equals(build_augmented_pool(queries, origin, config))  # seeded
    larger = build_augmented_pool(queries, origin, AugmentConfig(variants=200, p_delete=0.3, p_ngram=0.5))
    assert larger.iloc[:150].equals(frame)  # a larger draw starts with the smaller one
    assert not frame.equals(build_augmented_pool(queries, origin, AugmentConfig(variants=150, p_delete=0.3,
                                                                                  p_ngram=0.5, seed=1)))
    keys = frame["query"].map(normalise)
    assert keys.is_unique and not set(keys) & {normalise(q) for q in queries}
    assert not {"tell me about kiwi", normalise("tell me about the kiwi")} & set(frame["query"].str.casefold())
    assert not frame["query"].str.contains("number 0 today").any()  # the held-out row 0 is never an origin
    assert set(frame["source"]) <= {"augmented/deletion", "augmented/ngram", "augmented/deletion+ngram"}
    few = build_augmented_pool(["a b"], [0], AugmentConfig(variants=100, p_ngram=1.0))  # runs out: what exists
    assert set(few["query"]) <= {"a", "b"} and len(few) <= 2
    with pytest.raises(PoolError, match="Cannot make 0 variants"):
        build_augmented_pool(queries, origin, AugmentConfig(variants=0))


def test_the_file_is_reused_until_its_origin_or_config_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(pool_augmentation, "blocked_texts", lambda: {"exact": set(), "normalised": set()})
    origin_file = tmp_path / "origin.tsv"
    origin_file.write_text("query\tp\nx\t0.5\n", encoding="utf-8")
    queries = [f"how tall is mountain number {i} in the alps" for i in range(30)]
    target = tmp_path / "augmented.tsv"
    path, status = ensure_augmented_pool(origin_file, queries, range(30), AugmentConfig(variants=20), target)
    assert (path, status) == (target, "written")
    recorded = json.loads(provenance_path(target).read_text(encoding="utf-8"))
    assert recorded["rows"] == 20 and recorded["labels_read"] is False
    assert recorded["pool_sha256"] == sha256_file(target) and len(load_transfer_pool(target)) == 20
    assert ensure_augmented_pool(origin_file, queries, range(30), AugmentConfig(variants=20), target)[1] == \
        "up to date"
    assert ensure_augmented_pool(origin_file, queries, range(29), AugmentConfig(variants=20), target)[1] == \
        "written"
    assert ensure_augmented_pool(origin_file, queries, range(29), AugmentConfig(variants=25), target)[1] == \
        "written"
    origin_file.write_text("query\tp\nx\t0.6\n", encoding="utf-8")
    assert ensure_augmented_pool(origin_file, queries, range(29), AugmentConfig(variants=25), target)[1] == \
        "written"


def test_the_committed_augmented_pool_holds_no_evaluation_text_and_is_rebuilt_identically() -> None:
    committed = load_transfer_pool(augmented_pool_path(10_000))  # checks the recorded SHA-256
    recorded = json.loads(provenance_path(augmented_pool_path(10_000)).read_text(encoding="utf-8"))
    assert len(committed) == recorded["origin"]["config"]["variants"] == 10_000
    blocked = evaluation_texts() | {" ".join(t.split()).casefold()
                                    for t in load_ambignq_dev_slice()["initial_request"]}
    texts = committed["query"].tolist()
    assert not {t.casefold() for t in texts} & blocked
    assert not {normalise(t) for t in texts} & {normalise(t) for t in blocked}
    pool = load_transfer_pool()
    assert not {normalise(t) for t in texts} & set(pool["query"].map(normalise))
    from ambig_lib.training.distillation import holdout_split

    origin = paths.from_portable(recorded["origin"]["origin_pool_file"])
    assert sha256_file(origin) == recorded["origin"]["origin_pool_sha256"]
    queries = pd.read_csv(origin, sep="\t", dtype={"query": str}, keep_default_na=False)["query"].tolist()
    train, _ = holdout_split(len(queries), recorded["origin"]["config"]["seed"])
    rebuilt = build_augmented_pool(queries, train.tolist(), AugmentConfig(**recorded["origin"]["config"]))
    assert rebuilt.equals(committed)
