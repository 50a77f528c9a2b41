"""The benchmarks: ClariQ, AmbigNQ, CLAMBER as binary evaluation sets; the AmbigNQ-train development slice
and real seeds; every evaluation text (what no training pool may contain).

The builders turn the raw public files into the binary evaluation sets used by the published study
(byte-identical, see ``binary_tsv_bytes``).
"""


import json

import pandas as pd

from ambig_lib.core.errors import DataFileError
from ambig_lib.data.public_files import resolve_public_file

# ---------------------------------------------------------------------------------------------- ClariQ

CLARIQ_SPLITS = ("train", "dev", "test")
_CLARIQ_FILES = {"train": "clariq/train.tsv", "dev": "clariq/dev.tsv", "test": "clariq/test_with_labels.tsv"}


def _read_clariq_raw(split: str) -> pd.DataFrame:
    if split not in _CLARIQ_FILES:
        raise DataFileError(f"Unknown ClariQ split {split!r}; choose one of {CLARIQ_SPLITS}.")
    return pd.read_csv(resolve_public_file(_CLARIQ_FILES[split]), sep="\t", dtype={"initial_request": str})


def _clariq_binary(frame: pd.DataFrame) -> pd.DataFrame:
    first = frame.drop_duplicates("initial_request", keep="first")
    out = pd.DataFrame({
        "initial_request": first["initial_request"].to_numpy(),
        "binary_label": (first["clarification_need"] >= 2).astype(int).to_numpy(),
    })
    return out


def load_clariq(split: str | None = None) -> pd.DataFrame:
    """ClariQ binary set: ``initial_request, binary_label`` (1 = needs clarification, i.e. need >= 2).

    ``split=None`` gives the published 299-row set (train, dev, test concatenated, first row per request);
    ``"train"``, ``"dev"`` or ``"test"`` gives that official split alone.
    """
    if split is None:
        raw = pd.concat([_read_clariq_raw(s) for s in CLARIQ_SPLITS], ignore_index=True)
    else:
        raw = _read_clariq_raw(split)
    return _clariq_binary(raw)


# --------------------------------------------------------------------------------------------- AmbigNQ

AMBIGNQ_SPLITS = ("dev", "train")


def load_ambignq(split: str = "dev") -> pd.DataFrame:
    """AmbigNQ binary set in file order: label 1 if any annotation is of type ``multipleQAs``."""
    if split not in AMBIGNQ_SPLITS:
        raise DataFileError(f"Unknown AmbigNQ split {split!r}; choose one of {AMBIGNQ_SPLITS}.")
    path = resolve_public_file(f"ambignq/{split}_light.json")
    records = json.loads(path.read_text(encoding="utf-8"))
    return pd.DataFrame({
        "initial_request": [r["question"] for r in records],
        "binary_label": [int(any(a["type"] == "multipleQAs" for a in r["annotations"])) for r in records],
    })


#: The declared development slice: this many AmbigNQ **train** questions, with labels, are the only real
#: labelled data a choice of strategy, prompt or hyper-parameter may look at (never AmbigNQ dev).
AMBIGNQ_DEV_SLICE_SIZE = 500
#: Seed of the one permutation of AmbigNQ train that fixes the dev slice (its first questions) and the order in
#: which ``real_seeded`` generation takes its seeds (the rest, never the dev slice).
AMBIGNQ_TRAIN_PERMUTATION_SEED = 15


def ambignq_train_questions() -> list[str]:
    """AmbigNQ train questions in file order; the annotations (labels) are not read."""
    path = resolve_public_file("ambignq/train_light.json")
    return [" ".join(str(r["question"]).split()) for r in json.loads(path.read_text(encoding="utf-8"))]


def _ambignq_train_order() -> list[int]:
    """Indices of AmbigNQ train in the fixed permutation, first occurrence of each normalised question only."""
    import numpy as np

    questions = ambignq_train_questions()
    order = np.random.default_rng(AMBIGNQ_TRAIN_PERMUTATION_SEED).permutation(len(questions))
    seen: set[str] = set()
    kept: list[int] = []
    for index in order.tolist():
        key = questions[index].casefold()
        if key not in seen:
            seen.add(key)
            kept.append(index)
    return kept


def load_ambignq_dev_slice() -> pd.DataFrame:
    """The declared development slice (``dev`` in code): the first :data:`AMBIGNQ_DEV_SLICE_SIZE` questions of
    the fixed permutation of AmbigNQ **train**, with labels, plus ``train_index``. Disjoint from every
    ``real_seeded`` seed and from AmbigNQ dev."""
    frame = load_ambignq("train")
    chosen = _ambignq_train_order()[:AMBIGNQ_DEV_SLICE_SIZE]
    out = frame.iloc[chosen].reset_index(drop=True)
    out["initial_request"] = out["initial_request"].map(lambda t: " ".join(str(t).split()))
    out.insert(0, "train_index", chosen)
    return out


def real_seed_questions(limit: int | None = None, exclude: set[str] | None = None) -> list[str]:
    """Seeds of ``real_seeded`` generation: AmbigNQ train questions (labels never read) in the fixed
    permutation after the dev slice, skipping any whose case-folded text is in ``exclude`` (evaluation
    texts). A larger ``limit`` extends a smaller one, so a grown run reuses the earlier answers."""
    questions = ambignq_train_questions()
    blocked = {t.casefold() for t in exclude or set()}
    seeds = [questions[i] for i in _ambignq_train_order()[AMBIGNQ_DEV_SLICE_SIZE:]
             if questions[i].casefold() not in blocked]
    return seeds if limit is None else seeds[:limit]


# --------------------------------------------------------------------------------------------- CLAMBER

#: CLAMBER subclasses in the honest headline set (NK + LA). ICL is a template artefact and MC repeats AmbigNQ.
CLAMBER_HEADLINE_SUBCLASSES = ("NK", "co-reference", "polysemy")
CLAMBER_ARTEFACT_SUBCLASSES = ("ICL",)


def load_clamber(subclasses: tuple[str, ...] | None = CLAMBER_HEADLINE_SUBCLASSES) -> pd.DataFrame:
    """CLAMBER questions with ``initial_request, binary_label, category, subclass``, in file order.

    Each line of the file is a JSON-encoded string holding the JSON object. Whitespace (newlines inside
    questions) is collapsed. The default keeps the headline subclasses (FD-NK + LA: 1,200 questions, 600
    needing clarification); ``("ICL",)`` gives the template artefact alone, ``None`` every subclass but MC,
    whose questions are AmbigNQ's.
    """
    path = resolve_public_file("clamber/clamber_benchmark.jsonl")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record = json.loads(record) if isinstance(record, str) else record
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}, line {line_no}: not JSON ({exc.msg}). Fix: delete the copy so it is "
                                "fetched again.") from None
        if record["category"] == "MC":
            continue
        if subclasses is not None and record["subclass"] not in subclasses:
            continue
        rows.append({"initial_request": " ".join(str(record["question"]).split()),
                     "binary_label": int(record["require_clarification"]),
                     "category": record["category"], "subclass": record["subclass"]})
    return pd.DataFrame(rows, columns=["initial_request", "binary_label", "category", "subclass"])


# -------------------------------------------------------------------------------------- evaluation sets

#: The published study's evaluation sets: ClariQ (train+dev+test queries), AmbigNQ dev, and ClariQ test alone
#: (the split the supervised ceiling is scored on).
EVAL_SETS = ("clariq", "ambignq", "clariq_test")
#: The two benchmarks the published study reports (and LLM-direct and the served models are scored on).
PUBLISHED_BENCHMARKS = ("clariq", "ambignq")
#: The benchmarks of the transfer study (04's transfer table); ``clamber`` is NK + LA, ``clamber_icl`` the
#: template artefact reported apart.
TRANSFER_BENCHMARKS = ("clariq", "ambignq", "clamber")
#: Every set :func:`load_eval_set` knows, the development slice included.
KNOWN_SETS = EVAL_SETS + ("clamber", "clamber_icl", "ambignq_train_dev")


def evaluation_texts() -> set[str]:
    """Every evaluation text (ClariQ, AmbigNQ dev, CLAMBER all subclasses but MC), case-folded and with
    whitespace collapsed: what no training pool or seed may contain."""
    texts: list[str] = []
    for frame in (load_clariq(), load_ambignq("dev"), load_clamber(None)):
        texts += frame["initial_request"].astype(str).tolist()
    return {" ".join(t.split()).casefold() for t in texts}


def load_eval_set(name: str) -> pd.DataFrame:
    """Evaluation set by name: ``clariq`` (299, published), ``ambignq`` (2002, dev), ``clariq_test`` (official test)."""
    if name == "clariq":
        return load_clariq()
    if name == "ambignq":
        return load_ambignq("dev")
    if name == "clariq_test":
        return load_clariq("test")
    if name == "clamber":
        return load_clamber()
    if name == "clamber_icl":
        return load_clamber(CLAMBER_ARTEFACT_SUBCLASSES)
    if name == "ambignq_train_dev":
        return load_ambignq_dev_slice()
    raise DataFileError(f"Unknown evaluation set {name!r}; choose one of {KNOWN_SETS}.")


def binary_tsv_bytes(frame: pd.DataFrame) -> bytes:
    """The published file format: ``initial_request<TAB>binary_label`` with header, as pandas writes it."""
    return frame[["initial_request", "binary_label"]].to_csv(sep="\t", index=False).encode("utf-8")
