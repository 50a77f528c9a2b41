"""The transfer study's choice rule and targets, on its wide table (pandas only: findings read it without torch).

The pick reads the development slice (500 labelled AmbigNQ **train** questions) and nothing else; the targets
are then read, once, on the pick.
"""

from __future__ import annotations

import pandas as pd

#: Issue targets of the best synthetic-only student (chosen by the dev slice): ROC-AUC per benchmark, margin over
#: the length-only control of its own training data, and length-controlled ROC-AUC.
TARGET_ROC_AUC = {"clariq": 0.85, "clamber": 0.70, "ambignq": 0.60}
TARGET_LENGTH_MARGIN = 0.05
TARGET_LC_ROC_AUC = 0.60


def choose_student(wide: pd.DataFrame) -> pd.Series | None:
    """The study's pick: among fine-tuned rows (probe rows when there are none) of sets that are not controls,
    the highest ROC-AUC on the development slice, never a benchmark. ``None`` for an empty table."""
    candidates = wide[~wide["train_set"].str.endswith("-control")]
    tuned = candidates[candidates["method"].str.startswith("finetuned_")]
    pool = tuned if len(tuned) else candidates
    pool = pool[pool["dev roc_auc"].notna()]
    return None if pool.empty else pool.loc[pool["dev roc_auc"].astype(float).idxmax()]


def target_misses(row: pd.Series) -> list[str]:
    """What a row misses of the targets (:data:`TARGET_ROC_AUC`, the length margin, the length-controlled
    floor), one phrase each; empty when every target is met."""
    misses = []
    for bench, target in TARGET_ROC_AUC.items():
        auc, length, lc = (float(row[f"{bench} {k}"]) for k in ("roc_auc", "length_only", "lc_roc_auc"))
        if auc < target:
            misses.append(f"{bench} ROC-AUC {auc:.3f} < {target:.2f}")
        if auc - length < TARGET_LENGTH_MARGIN:
            misses.append(f"{bench} only {auc - length:+.3f} over length alone (< +{TARGET_LENGTH_MARGIN:.2f})")
        if lc < TARGET_LC_ROC_AUC:
            misses.append(f"{bench} length-controlled {lc:.3f} < {TARGET_LC_ROC_AUC:.2f}")
    return misses
