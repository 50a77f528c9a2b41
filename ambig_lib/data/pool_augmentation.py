"""Augmented transfer queries: more unlabeled inputs for the teacher to label, so that a small student sees the
teacher's behaviour beyond the pool's own sentences (Tang et al., 2019, "Distilling Task-Specific Knowledge from
BERT into Simple Neural Networks", section 3.1).

Each variant comes from one pool query of the given origin rows (the training part of the pool's seeded
hold-out, so that no held-out query leaks into training through its variants):

1. every word is deleted with probability ``p_delete`` (Tang et al. replace it with ``[MASK]``; a served query
   never holds that token, so it is dropped instead);
2. then, with probability ``p_ngram``, only a random n-gram of what is left is kept (n uniform in
   1..``max_ngram`` and shorter than the query).

A variant is kept when it is new: not empty, not any pool query (by ``core.text.normalise`` key, held-out ones
included), not an evaluation or development-slice text (``pool.blocked_texts``, exactly or by key) and not an
earlier variant. Origins are visited in a seeded order, round after round, until ``variants`` are kept or
``max_rounds`` are spent. No label is read.

``data/pool/transfer_pool_augmented-<variants>.tsv`` (``query, source``; sources ``augmented/deletion``, ``augmented/ngram``,
``augmented/deletion+ngram``) is written atomically with its provenance beside it (the rule, the configuration,
the origin pool's SHA-256 and the origin rows' hash) and reused while they are unchanged. The draw is
sequential, so a larger ``variants`` starts with the variants of a smaller one (same origins and seed): their
teacher labels are reused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_bytes, sha256_file, write_bytes_atomic, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import normalise
from ambig_lib.data.pool import POOL_COLUMNS, PoolError, blocked_texts, pool_tsv_bytes, provenance_path

AUGMENTED_STEM = "transfer_pool_augmented"
RULE = ("Tang et al. (2019) transfer-set augmentation: each word deleted with p_delete (their [MASK], dropped "
        "because served queries never hold it), then with p_ngram a random n-gram (n in 1..max_ngram, shorter "
        "than the query) kept; variants of the training rows only; kept when new (not a pool query, not an "
        "evaluation or development-slice text, not an earlier variant, by normalise key)")


@dataclass(frozen=True)
class AugmentConfig:
    """How many variants, and how they are made."""

    variants: int = 10_000
    p_delete: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    max_rounds: int = 5
    seed: int = 0


def augmented_pool_path(variants: int) -> Path:
    """``data/pool/transfer_pool_augmented-<variants>.tsv`` (or under ``$AMBIG_POOL_DIR``)."""
    return paths.pool_dir() / f"{AUGMENTED_STEM}-{int(variants)}.tsv"


def augment_query(query: str, rng: np.random.Generator, config: AugmentConfig) -> tuple[str, str]:
    """One variant of ``query`` and how it was made (``deletion``, ``ngram``, ``deletion+ngram`` or ``none``)."""
    words = str(query).split()
    kept = [w for w in words if rng.random() >= config.p_delete]
    how = []
    if kept and len(kept) < len(words):
        how.append("deletion")
    else:
        kept = words
    if len(kept) > 1 and rng.random() < config.p_ngram:
        n = int(rng.integers(1, min(config.max_ngram, len(kept) - 1) + 1))
        start = int(rng.integers(0, len(kept) - n + 1))
        kept = kept[start:start + n]
        how.append("ngram")
    return " ".join(kept), "+".join(how) or "none"


def build_augmented_pool(queries: Sequence[str], origin_rows: Sequence[int],
                         config: AugmentConfig = AugmentConfig()) -> pd.DataFrame:
    """Up to ``config.variants`` new variants of ``queries[origin_rows]``: ``query, source``."""
    if config.variants < 1 or not origin_rows:
        raise PoolError(f"Cannot make {config.variants} variants of {len(origin_rows)} origin queries. Fix: ask "
                        "for at least one variant of a non-empty pool.")
    blocked = blocked_texts()
    seen = {normalise(q) for q in queries} | blocked["normalised"]
    rng = np.random.default_rng(config.seed)
    texts: list[str] = []
    sources: list[str] = []
    for _ in range(config.max_rounds):
        for row in rng.permutation(np.asarray(origin_rows, dtype=np.int64)):
            text, how = augment_query(queries[int(row)], rng, config)
            key = normalise(text)
            if how == "none" or not key or key in seen or text.casefold() in blocked["exact"]:
                continue
            seen.add(key)
            texts.append(text)
            sources.append(f"augmented/{how}")
            if len(texts) == config.variants:
                return pd.DataFrame({"query": texts, "source": sources}, columns=list(POOL_COLUMNS))
    return pd.DataFrame({"query": texts, "source": sources}, columns=list(POOL_COLUMNS))


def _origin_key(pool_file: Path, origin_rows: Sequence[int], config: AugmentConfig) -> dict[str, Any]:
    rows = ",".join(str(int(r)) for r in origin_rows)
    return {"origin_pool_file": paths.portable_path(Path(pool_file).resolve()),
            "origin_pool_sha256": sha256_file(pool_file), "origin_rows": len(origin_rows),
            "origin_rows_sha256": sha256_bytes(rows.encode("ascii")), "config": asdict(config)}


def ensure_augmented_pool(pool_file: str | Path, queries: Sequence[str], origin_rows: Sequence[int],
                          config: AugmentConfig = AugmentConfig(), path: str | Path | None = None
                          ) -> tuple[Path, str]:
    """The augmented pool file of these origins and config: reused while its provenance matches, else built and
    written (atomic). Returns the path and ``up to date`` or ``written``."""
    target = Path(path) if path is not None else augmented_pool_path(config.variants)
    key = _origin_key(Path(pool_file), origin_rows, config)
    record = provenance_path(target)
    if target.is_file() and record.is_file():
        recorded = json.loads(record.read_text(encoding="utf-8"))
        if recorded.get("origin") == key and recorded.get("pool_sha256") == sha256_file(target):
            return target, "up to date"
    frame = build_augmented_pool(queries, origin_rows, config)
    data = pool_tsv_bytes(frame)
    write_bytes_atomic(target, data)
    write_json_atomic(record, {
        "pool_file": paths.portable_path(target.resolve()), "pool_sha256": sha256_bytes(data), "rows": len(frame),
        "columns": list(POOL_COLUMNS), "rule": RULE, "origin": key,
        "sources": {str(k): int(v) for k, v in frame["source"].value_counts().sort_index().items()},
        "labels_read": False, "versions": software_versions()})
    return target, "written"
