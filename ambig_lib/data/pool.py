"""The transfer pool: unlabeled queries that are never evaluation texts, for knowledge distillation.

Every synthetic query we have (the sets of a teacher-set specification, ``all`` by default: published,
Zef-CNP, generated, strategies) and the AmbigNQ train questions (their labels are never read). A fast student
learns the best ensemble's soft probabilities on these queries instead of 1,000 hard labels.

Rules, in order: whitespace is collapsed; empty queries (nothing left after ``core.text.normalise``) are dropped;
every query that is an evaluation text (ClariQ, AmbigNQ dev, CLAMBER: ``benchmarks.evaluation_texts``) or a
text of the declared development slice (it is used for selection) is dropped, both by its case-folded text and
by its ``normalise`` key (near-identical forms such as a dropped question mark); duplicates by ``normalise`` are
dropped, the first occurrence winning (sets in resolver order, then AmbigNQ train).

``data/pool/transfer_pool.tsv`` (``query, source``) is committed with ``transfer_pool.provenance.json`` beside
it; ``load_transfer_pool`` checks the SHA-256 recorded there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_bytes, sha256_file, write_bytes_atomic, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import normalise
from ambig_lib.data.benchmarks import ambignq_train_questions, evaluation_texts, load_ambignq_dev_slice
from ambig_lib.data.public_files import resolve_public_file
from ambig_lib.data.teacher_sets import load_teacher_set, resolve_teacher_sets, teacher_set_path, teacher_set_source

POOL_FILE = "transfer_pool.tsv"
PROVENANCE_SUFFIX = ".provenance.json"
POOL_COLUMNS = ("query", "source")
#: The source name of the AmbigNQ train questions (the other sources are teacher-set names).
AMBIGNQ_TRAIN_SOURCE = "ambignq_train"
AMBIGNQ_TRAIN_FILE = "ambignq/train_light.json"
DEDUP_RULE = ("whitespace collapsed; duplicates by core.text.normalise (NFKC, case-folded, punctuation and _ as "
              "spaces) dropped, first occurrence kept: teacher sets in resolver order, then AmbigNQ train")
EXCLUSION_RULE = ("dropped when the case-folded, whitespace-collapsed text or its core.text.normalise key is one "
                  "of an evaluation text (ClariQ, AmbigNQ dev, CLAMBER but MC) or of the AmbigNQ-train "
                  "development slice")
#: ``frame.attrs`` key holding what ``build_transfer_pool`` read and dropped (``write_transfer_pool`` records it).
BUILD_RECORD = "transfer_pool"


class PoolError(AmbigError):
    """The transfer pool file is missing, malformed, or differs from its recorded checksum."""


def pool_path() -> Path:
    """``data/pool/transfer_pool.tsv`` (or under ``$AMBIG_POOL_DIR``)."""
    return paths.pool_dir() / POOL_FILE


def provenance_path(path: str | Path) -> Path:
    """The provenance JSON beside a pool (or soft-label) TSV: ``<stem>.provenance.json``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".tsv") + PROVENANCE_SUFFIX)


def _collapse(text: str) -> str:
    return " ".join(str(text).split())


def blocked_texts() -> dict[str, set[str]]:
    """What no pool may contain: ``exact`` (case-folded, whitespace collapsed) and ``normalised`` keys of every
    evaluation text and development-slice text, plus the two counts of texts behind them."""
    evaluation = evaluation_texts()
    dev_slice = {_collapse(t).casefold() for t in load_ambignq_dev_slice()["initial_request"].astype(str)}
    exact = evaluation | dev_slice
    return {"exact": exact, "normalised": {normalise(t) for t in exact} - {""},
            "evaluation": evaluation, "dev_slice": dev_slice}


def _candidates(spec: str | Sequence[str]) -> Iterable[tuple[str, list[str], dict[str, Any]]]:
    """(source, queries, file record) of each source, in pool order."""
    for name in resolve_teacher_sets(spec):
        path = teacher_set_path(name)
        yield name, load_teacher_set(name)["initial_request"].astype(str).tolist(), {
            "file": teacher_set_source(name), "file_sha256": sha256_file(path)}
    path = resolve_public_file(AMBIGNQ_TRAIN_FILE)
    yield AMBIGNQ_TRAIN_SOURCE, ambignq_train_questions(), {
        "file": f"mirror:{AMBIGNQ_TRAIN_FILE}", "file_sha256": sha256_file(path), "labels_read": False}


def build_transfer_pool(spec: str | Sequence[str] = "all") -> pd.DataFrame:
    """The transfer pool of teacher-set specification ``spec`` plus AmbigNQ train: ``query, source``.

    ``frame.attrs["transfer_pool"]`` records, per source, the rows read, empty, excluded (evaluation or
    development-slice text, exactly or by ``normalise`` key), duplicate and kept; ``source_counts`` shows them.
    """
    blocked = blocked_texts()
    seen: set[str] = set()
    queries: list[str] = []
    sources: list[str] = []
    records: list[dict[str, Any]] = []
    for source, texts, file_record in _candidates(spec):
        counts = {"rows_read": len(texts), "empty": 0, "excluded_exact": 0, "excluded_normalised": 0,
                  "duplicates": 0}
        for raw in texts:
            query = _collapse(raw)
            key = normalise(query)
            if not key:
                counts["empty"] += 1
            elif query.casefold() in blocked["exact"]:
                counts["excluded_exact"] += 1
            elif key in blocked["normalised"]:
                counts["excluded_normalised"] += 1
            elif key in seen:
                counts["duplicates"] += 1
            else:
                seen.add(key)
                queries.append(query)
                sources.append(source)
        counts["rows_kept"] = counts["rows_read"] - counts["empty"] - counts["excluded_exact"] \
            - counts["excluded_normalised"] - counts["duplicates"]
        records.append({"source": source, **file_record, **counts})
    frame = pd.DataFrame({"query": queries, "source": sources}, columns=list(POOL_COLUMNS))
    spec_record = [str(s) for s in spec] if isinstance(spec, (list, tuple)) else str(spec)
    frame.attrs[BUILD_RECORD] = {
        "spec": spec_record, "sources": records,
        "blocked": {"evaluation_texts": len(blocked["evaluation"]), "dev_slice_texts": len(blocked["dev_slice"]),
                    "normalised_keys": len(blocked["normalised"])},
    }
    return frame


def source_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per source: rows read, empty, excluded, duplicates and kept (from the build record), or only
    the kept rows of a pool read back from disk."""
    record = frame.attrs.get(BUILD_RECORD)
    if record:
        columns = ["source", "rows_read", "empty", "excluded_exact", "excluded_normalised", "duplicates",
                   "rows_kept"]
        return pd.DataFrame([{c: r[c] for c in columns} for r in record["sources"]], columns=columns)
    counts = frame["source"].value_counts(sort=False)
    return pd.DataFrame({"source": counts.index, "rows_kept": counts.to_numpy()})


def pool_tsv_bytes(frame: pd.DataFrame) -> bytes:
    """The pool's file bytes: tab-separated ``query, source`` with a header, as pandas writes it."""
    return frame[list(POOL_COLUMNS)].to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")


def write_transfer_pool(frame: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write the pool TSV (atomic) and its provenance beside it; returns the TSV path.

    ``frame`` must come from ``build_transfer_pool`` (its build record says what was read and excluded).
    """
    record = frame.attrs.get(BUILD_RECORD)
    if not record:
        raise PoolError("The frame has no build record, so its provenance cannot be written. "
                        "Fix: pass the frame build_transfer_pool() returned, unmodified.")
    target = Path(path) if path is not None else pool_path()
    data = pool_tsv_bytes(frame)
    excluded = {"exact": sum(r["excluded_exact"] for r in record["sources"]),
                "normalised": sum(r["excluded_normalised"] for r in record["sources"])}
    provenance = {
        "pool_file": paths.portable_path(target.resolve()), "pool_sha256": sha256_bytes(data), "rows": len(frame),
        "spec": record["spec"], "columns": list(POOL_COLUMNS), "sources": record["sources"],
        "dedup_rule": DEDUP_RULE,
        "exclusion": {"rule": EXCLUSION_RULE, **record["blocked"], "excluded_rows": excluded,
                      "empty_rows": sum(r["empty"] for r in record["sources"]),
                      "duplicate_rows": sum(r["duplicates"] for r in record["sources"])},
        "labels_read": False, "versions": software_versions(),
    }
    write_bytes_atomic(target, data)
    write_json_atomic(provenance_path(target), provenance)
    return target


def read_pool_provenance(path: str | Path | None = None) -> dict[str, Any]:
    """The provenance recorded beside a pool TSV; a clear error when it is missing."""
    target = Path(path) if path is not None else pool_path()
    record = provenance_path(target)
    if not record.is_file():
        raise PoolError(f"{record} is missing, so {target} cannot be checked. Fix: rebuild the pool with "
                        "write_transfer_pool(build_transfer_pool()).")
    return json.loads(record.read_text(encoding="utf-8"))


def load_transfer_pool(path: str | Path | None = None) -> pd.DataFrame:
    """Read a pool TSV back (``query, source``) after checking its SHA-256 against its provenance."""
    target = Path(path) if path is not None else pool_path()
    if not target.is_file():
        raise PoolError(f"{target} does not exist. Fix: build it with write_transfer_pool(build_transfer_pool()).")
    provenance = read_pool_provenance(target)
    actual = sha256_file(target)
    if actual != provenance.get("pool_sha256"):
        raise PoolError(f"{target}: SHA-256 {actual[:12]}... differs from {provenance.get('pool_sha256')!s:.12}... "
                        f"recorded in {provenance_path(target).name}. Fix: restore the file (git checkout) or "
                        "rebuild it with write_transfer_pool(build_transfer_pool()).")
    frame = pd.read_csv(target, sep="\t", dtype=str, keep_default_na=False)
    if list(frame.columns) != list(POOL_COLUMNS):
        raise PoolError(f"{target}, line 1: columns {list(frame.columns)}, expected {list(POOL_COLUMNS)}. "
                        "Fix: rebuild it with write_transfer_pool(build_transfer_pool()).")
    return frame


def ensure_transfer_pool(spec: str | Sequence[str] = "all", path: str | Path | None = None
                         ) -> tuple[pd.DataFrame, Path, str]:
    """Build the pool of ``spec``; rewrite the file only when its bytes changed. Returns the pool, its path and
    a status: ``up to date`` or ``written``."""
    target = Path(path) if path is not None else pool_path()
    frame = build_transfer_pool(spec)
    if target.is_file() and provenance_path(target).is_file():
        recorded = json.loads(provenance_path(target).read_text(encoding="utf-8"))
        if (recorded.get("pool_sha256") == sha256_bytes(pool_tsv_bytes(frame)) == sha256_file(target)
                and recorded.get("spec") == frame.attrs[BUILD_RECORD]["spec"]):
            return frame, target, "up to date"
    return frame, write_transfer_pool(frame, target), "written"
