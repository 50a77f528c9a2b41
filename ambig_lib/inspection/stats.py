"""Inspection of synthetic teacher sets: size, balance, duplicates, lengths, vocabulary, length shortcut.

The length shortcut is the published study's blind spot: when ambiguous queries are much shorter than
specific ones, a classifier that sees only the number of words separates the synthetic classes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_score
from tqdm.auto import tqdm

from ambig_lib.core.features import length_only_classifier, tfidf_classifier
from ambig_lib.core.text import normalise, vocabulary, word_count

TokenCounter = Callable[[list[str]], list[int]]


def cv_accuracy(make_model: Callable[[int], object], texts: list[str], labels: list[int],
                folds: int = 5, seed: int = 0) -> float:
    """Mean stratified k-fold accuracy of a fresh model per fold."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(make_model(seed), np.asarray(texts, dtype=object), np.asarray(labels),
                             cv=splitter, scoring="accuracy")
    return float(np.mean(scores))


def duplicate_counts(texts: list[str]) -> tuple[int, int]:
    """(exact, near) duplicates: rows whose text (resp. normalised text) already occurred earlier."""
    exact = len(texts) - len(set(texts))
    near = len(texts) - len({normalise(t) for t in texts})
    return exact, near


def topics_not_balanced(frame: pd.DataFrame, per_label: int = 5) -> int:
    """Number of topics that do not have exactly ``per_label`` rows of each label."""
    counts = frame.groupby(["topic", "binary_label"]).size().unstack(fill_value=0)
    for label in (0, 1):
        if label not in counts:
            counts[label] = 0
    return int(((counts[0] != per_label) | (counts[1] != per_label)).sum())


def vocab_overlap(texts: list[str], reference: list[str]) -> tuple[float, float]:
    """(coverage, jaccard): share of the reference's word types seen in ``texts``, and the Jaccard index."""
    ours, theirs = vocabulary(texts), vocabulary(reference)
    if not theirs:
        return 0.0, 0.0
    return len(ours & theirs) / len(theirs), len(ours & theirs) / len(ours | theirs)


def inspect_teacher_set(name: str, teacher: str, frame: pd.DataFrame, eval_sets: dict[str, list[str]],
                        count_tokens: TokenCounter | None = None, seed: int = 0, folds: int = 5) -> dict[str, object]:
    """One row of the inspection table for one teacher set."""
    texts = frame["initial_request"].tolist()
    labels = frame["binary_label"].astype(int).tolist()
    words = np.array([word_count(t) for t in texts])
    label_arr = np.array(labels)
    exact, near = duplicate_counts(texts)
    row: dict[str, object] = {
        "teacher_set": name,
        "teacher": teacher,
        "rows": len(frame),
        "n_topics": frame["topic"].nunique(),
        "label0": int((label_arr == 0).sum()),
        "label1": int((label_arr == 1).sum()),
        "topics_not_5_5": topics_not_balanced(frame),
        "exact_duplicates": exact,
        "near_duplicates": near,
        "mean_words_specific": float(words[label_arr == 0].mean()),
        "mean_words_ambiguous": float(words[label_arr == 1].mean()),
    }
    if count_tokens is not None:
        tokens = np.array(count_tokens(texts))
        row["mean_tokens_specific"] = float(tokens[label_arr == 0].mean())
        row["mean_tokens_ambiguous"] = float(tokens[label_arr == 1].mean())
        row["max_tokens"] = int(tokens.max())
    for eval_name, eval_texts in eval_sets.items():
        coverage, jaccard = vocab_overlap(texts, eval_texts)
        row[f"{eval_name}_vocab_coverage"] = coverage
        row[f"{eval_name}_vocab_jaccard"] = jaccard
    row.update(type_balance(frame))
    row["length_only_cv_accuracy"] = cv_accuracy(length_only_classifier, texts, labels, folds, seed)
    row["tfidf_cv_accuracy"] = cv_accuracy(tfidf_classifier, texts, labels, folds, seed)
    return row


def type_balance(frame: pd.DataFrame) -> dict[str, object]:
    """Ambiguity (or edit) types of the ambiguous rows: how many, and the smallest type's share of the largest
    (1.0 = perfectly balanced); NaN for sets that record no type."""
    types = frame.loc[frame["binary_label"].astype(int) == 1, "ambiguity_type"] \
        if "ambiguity_type" in frame.columns else pd.Series(dtype=str)
    counts = types[types.astype(str).str.len() > 0].value_counts()
    if counts.empty:
        return {"n_types": 0, "type_balance": float("nan")}
    return {"n_types": int(len(counts)), "type_balance": float(counts.min() / counts.max())}


def type_examples(frame: pd.DataFrame, per_type: int = 1, seed: int = 0) -> pd.DataFrame:
    """``per_type`` random pairs of each ambiguity type side by side (specific, ambiguous), for sets with
    ``pair_id`` and ``ambiguity_type`` columns; empty otherwise."""
    if not {"pair_id", "ambiguity_type"} <= set(frame.columns):
        return pd.DataFrame(columns=["type", "specific", "ambiguous"])
    spec = frame[frame["binary_label"].astype(int) == 0].drop_duplicates("pair_id").set_index("pair_id")
    amb = frame[frame["binary_label"].astype(int) == 1].drop_duplicates("pair_id").set_index("pair_id")
    joined = amb[["ambiguity_type", "initial_request"]].join(spec[["initial_request"]], rsuffix="_specific",
                                                             how="inner")
    joined.columns = ["type", "ambiguous", "specific"]
    parts = [joined[joined["type"] == kind].sample(n=min(per_type, int((joined["type"] == kind).sum())),
                                                   random_state=seed) for kind in sorted(set(joined["type"]))]
    if not parts:
        return pd.DataFrame(columns=["type", "specific", "ambiguous"])
    return pd.concat(parts)[["type", "specific", "ambiguous"]].reset_index(drop=True)


def inspection_table(sets: dict[str, tuple[str, pd.DataFrame]], eval_sets: dict[str, list[str]],
                     count_tokens: TokenCounter | None = None, seed: int = 0, folds: int = 5,
                     decimals: int = 4) -> pd.DataFrame:
    """Inspection rows for every ``name -> (teacher, frame)``, rounded so identical inputs give identical bytes."""
    rows = [inspect_teacher_set(name, teacher, frame, eval_sets, count_tokens, seed, folds)
            for name, (teacher, frame) in tqdm(sets.items(), desc="inspect teacher sets")]
    table = pd.DataFrame(rows)
    return table.round(decimals)


def length_long_format(sets: dict[str, tuple[str, pd.DataFrame]],
                       count_tokens: TokenCounter | None = None) -> pd.DataFrame:
    """One row per query: teacher, label name, words (and tokens): the input of the length figures."""
    parts = []
    for name, (teacher, frame) in sets.items():
        texts = frame["initial_request"].tolist()
        part = pd.DataFrame({
            "teacher_set": name,
            "teacher": teacher,
            "label": np.where(frame["binary_label"].astype(int) == 1, "ambiguous", "specific"),
            "words": [word_count(t) for t in texts],
        })
        if count_tokens is not None:
            part["tokens"] = count_tokens(texts)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def wordpiece_token_counter(model_dir: str) -> TokenCounter:
    """Token counts with a local tokenizer (the student's), special tokens excluded."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    return count
