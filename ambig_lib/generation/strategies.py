"""The transfer study's training sets on disk: rule-based counterfactual pairs and every strategy's control.

Sets live in ``data/synthetic/strategies/`` as ``<stem>_balanced_strict.tsv`` with a ``.provenance.json``
beside them, and load by the name ``strategy/<stem>``. The LLM strategies (``taxonomy``, ``real_seeded``) are
written there by the generation stage (``ambig generate --prompt taxonomy --out-dir
data/synthetic/strategies``); this module adds, with no model call:

* ``strategy/rules_counterfactual``: :mod:`ambig_lib.generation.counterfactual` edits of the specific queries of the
  published and Zef-CNP sets;
* ``strategy/length_resampled``: :mod:`ambig_lib.generation.length_resampling`'s draw of published and Zef-CNP
  rows in which both labels have the same word counts and character lengths, with its own control ``strategy/length_resampled-control``
  (the same number of rows drawn with no regard to length);
* ``strategy/<stem>-control`` for every other pair set there: its random-deletion control.

Command line (:mod:`ambig_lib.cli.strategies`)::

    ambig strategies            # (re)build the counterfactual and length-resampled sets, and every missing control
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ambig_lib.core.io import sha256_file, write_json_atomic, write_text_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.teacher_sets import (
    load_teacher_set,
    resolve_teacher_sets,
    strategy_dir,
    strategy_set_names,
)
from ambig_lib.generation import counterfactual, length_resampling
from ambig_lib.generation.stage import frame_to_tsv

COUNTERFACTUAL_STEM = "rules_counterfactual"
CONTROL_SUFFIX = "-control"
#: Sources of the counterfactual edits: the specific queries of these sets (never an evaluation text).
COUNTERFACTUAL_SOURCES = ("published", "zefcnp")
LENGTH_RESAMPLED_STEM = "length_resampled"
#: Pairs drawn for the length-resampled set and its control (2,000 rows each, about real_seeded's size).
LENGTH_RESAMPLED_PAIRS = 1000
_SUFFIX = "_balanced_strict"


def write_set(frame: pd.DataFrame, stem: str, provenance: dict[str, Any], folder: Path | None = None) -> Path:
    """Write ``<stem>_balanced_strict.tsv`` and its provenance (with the TSV's SHA-256) atomically."""
    out = folder if folder is not None else strategy_dir()
    tsv = out / f"{stem}{_SUFFIX}.tsv"
    write_text_atomic(tsv, frame_to_tsv(frame))
    words = frame["initial_request"].map(lambda t: len(str(t).split()))
    record = {**provenance, "set": f"strategy/{stem}", "rows": len(frame),
              "labels": {str(k): int(v) for k, v in sorted(Counter(frame["binary_label"]).items())},
              "mean_words": {"specific": round(float(words[frame["binary_label"] == 0].mean()), 3),
                             "ambiguous": round(float(words[frame["binary_label"] == 1].mean()), 3)},
              "types": dict(sorted(Counter(t for t in frame["ambiguity_type"] if t).items())),
              "files": {"tsv": tsv.name, "tsv_sha256": sha256_file(tsv)},
              "package_versions": software_versions()}
    write_json_atomic(out / f"{stem}{_SUFFIX}.provenance.json", record)
    return tsv


def build_counterfactual(sources: Sequence[str] = COUNTERFACTUAL_SOURCES, seed: int = 0,
                         folder: Path | None = None) -> Path:
    """Build ``strategy/rules_counterfactual`` from the specific queries of ``sources`` (set specification)."""
    names = resolve_teacher_sets(list(sources))
    pairs = counterfactual.counterfactual_pairs((n, load_teacher_set(n)) for n in names)
    frame = counterfactual.pairs_frame(pairs)
    provenance = {"stage": "strategy", "strategy": "counterfactual", "rules_version": counterfactual.RULES_VERSION,
                  "sources": names, "edit_types": list(counterfactual.EDIT_TYPES), "seed": seed,
                  "pairs": len(pairs)}
    return write_set(frame, COUNTERFACTUAL_STEM, provenance, folder)


def build_control(name: str, seed: int = 0, folder: Path | None = None) -> Path:
    """Build ``<name>-control``: the random-deletion control of the pair set ``name``."""
    frame = load_teacher_set(name)
    control = counterfactual.control_frame(frame, seed=seed)
    columns = [c for c in frame.columns if c != "source_line"]
    stem = name.split("/", 1)[1] + CONTROL_SUFFIX
    provenance = {"stage": "strategy", "strategy": "random_deletion_control", "control_of": name,
                  "rules_version": counterfactual.RULES_VERSION, "seed": seed,
                  "pairs": int((control["binary_label"] == 1).sum()),
                  "pairs_dropped": int((frame["binary_label"] == 1).sum() - (control["binary_label"] == 1).sum())}
    return write_set(control[columns], stem, provenance, folder)


def build_length_resampled(sources: Sequence[str] = COUNTERFACTUAL_SOURCES, pairs: int = LENGTH_RESAMPLED_PAIRS,
                           seed: int = 0, folder: Path | None = None) -> tuple[Path, Path]:
    """Build ``strategy/length_resampled`` and its random-draw control from the rows of ``sources``."""
    names = resolve_teacher_sets(list(sources))
    rows = length_resampling.source_rows((n, load_teacher_set(n)) for n in names)
    common = {"stage": "strategy", "sources": names, "seed": seed, "pairs": pairs,
              "length_bins": f"exact word count ({length_resampling.LONG_QUERY_WORDS}+ pooled) and characters // "
                             f"{length_resampling.CHAR_BIN_WIDTH} (whitespace collapsed)"}
    strategy = write_set(length_resampling.length_resampled_frame(rows, pairs, seed), LENGTH_RESAMPLED_STEM,
                         {**common, "strategy": "length_resampled"}, folder)
    control = write_set(length_resampling.random_draw_frame(rows, pairs, seed), LENGTH_RESAMPLED_STEM + CONTROL_SUFFIX,
                        {**common, "strategy": "random_draw_control",
                         "control_of": f"strategy/{LENGTH_RESAMPLED_STEM}"}, folder)
    return strategy, control


def build_all(seed: int = 0, rebuild_controls: bool = False) -> list[Path]:
    """The counterfactual and length-resampled sets, then a deletion control for every other strategy set that has
    none (or all, when asked)."""
    written = [build_counterfactual(seed=seed), *build_length_resampled(seed=seed)]
    for name in strategy_set_names():
        if name.endswith(CONTROL_SUFFIX) or name == f"strategy/{LENGTH_RESAMPLED_STEM}":
            continue
        control = strategy_dir() / f"{name.split('/', 1)[1]}{CONTROL_SUFFIX}{_SUFFIX}.tsv"
        if rebuild_controls or not control.is_file() or control.stat().st_mtime < \
                (strategy_dir() / f"{name.split('/', 1)[1]}{_SUFFIX}.tsv").stat().st_mtime:
            written.append(build_control(name, seed=seed))
    return written
