"""The supervised ceilings: real labelled training queries for each benchmark that has a training split.

A ceiling is the same student and recipe trained on real labels (ClariQ train+dev -> ClariQ test; a stratified
subsample of AmbigNQ train -> AmbigNQ dev). Its run is named like a teacher set (``ceiling/clariq``).
"""

from __future__ import annotations

import pandas as pd

from ambig_lib.core.errors import AmbigError
from ambig_lib.data.benchmarks import load_ambignq, load_clariq, load_eval_set

#: Ceiling run name -> the evaluation set it is scored on (the one mapping; ``ceiling_teacher`` inverts it).
CEILING_DATASETS: dict[str, str] = {"ceiling/clariq": "clariq_test", "ceiling/ambignq": "ambignq"}
AMBIGNQ_CEILING_ROWS = 1000
AMBIGNQ_CEILING_NOTE = (f"trained on a stratified {AMBIGNQ_CEILING_ROWS}-row subsample of AmbigNQ train "
                        "(CPU budget); 5-fold CV selection inside it")
#: What each ceiling was trained on, as the results tables say it.
CEILING_NOTES: dict[str, str] = {"clariq_test": "trained on ClariQ train+dev", "ambignq": AMBIGNQ_CEILING_NOTE}


class CeilingError(AmbigError):
    """No supervised ceiling exists for a dataset."""


def ceiling_teacher(dataset: str) -> str:
    """Run name of the supervised ceiling evaluated on ``dataset`` (``clariq_test`` or ``ambignq``)."""
    names = {dataset_: teacher for teacher, dataset_ in CEILING_DATASETS.items()}
    if dataset not in names:
        raise CeilingError(f"No supervised ceiling for {dataset!r}; ceilings exist for {sorted(names)}.")
    return names[dataset]


def ceiling_training_frame(dataset: str) -> pd.DataFrame:
    """Real labelled training queries of the supervised ceiling for ``dataset`` (never its test rows)."""
    if dataset == "clariq_test":
        train = pd.concat([load_clariq("train"), load_clariq("dev")], ignore_index=True)
    elif dataset == "ambignq":
        train = load_ambignq("train")
    else:
        raise CeilingError(f"No supervised ceiling for {dataset!r}; use 'clariq_test' or 'ambignq'.")
    test_texts = set(load_eval_set(dataset)["initial_request"].str.strip().str.casefold())
    keep = ~train["initial_request"].str.strip().str.casefold().isin(test_texts)
    return train[keep].drop_duplicates("initial_request").reset_index(drop=True)
