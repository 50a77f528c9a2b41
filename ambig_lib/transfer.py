"""Which synthetic data teaches real ambiguity: a cheap, frozen-encoder probe of every training set.

For each training set (published, Zef-CNP, generated, strategies and their random-deletion controls) a
logistic regression is fitted on the frozen, mean-pooled and L2-normalised sentence embeddings of a student
encoder (default ``minilm``). Its regularisation strength is chosen by cross-validation **on the training set
only** (folds grouped by pair, or by topic, so both queries of a pair stay together). The fitted probe then
scores the real benchmarks (ClariQ, AmbigNQ dev, CLAMBER NK + LA, CLAMBER's ICL artefact) and the declared
development slice (500 labelled AmbigNQ **train** questions). Beside each probe, the length-only control of
the same training data (logistic regression on word and character counts).

Reported per (training set, benchmark): ROC-AUC with a bootstrap 95% interval, the length-controlled ROC-AUC
(AUC within bins of equal word count, averaged with weights), macro-F1 at 0.5 and the length-only control's
ROC-AUC. Choices (which strategy is "best") read only the ``dev`` column and the synthetic CV score.

The fine-tuned students of the same sets go through the training grid (``03``); this probe is what lets the
strategies be compared in minutes on a CPU.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

from . import paths
from .baselines import fit_length_only
from .data import CLAMBER_HEADLINE_SUBCLASSES, load_eval_set
from .evaluation import binary_metrics, bootstrap_ci, length_controlled_roc_auc
from .students import resolve_student, set_torch_threads
from .teacher_sets import load_teacher_set, resolve_teacher_sets

#: Benchmarks every probe is scored on; ``ambignq_train_dev`` is the declared development slice.
PROBE_SETS = ("clariq", "ambignq", "clamber", "clamber_icl", "ambignq_train_dev")
#: Regularisation strengths tried by the synthetic-only cross-validation.
C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of the frozen probe (recorded beside its results)."""

    encoder: str = "minilm"
    max_length: int = 64
    batch_size: int = 128
    folds: int = 5
    seed: int = 0
    n_resamples: int = 1000
    max_rows: int | None = 20000  # larger sets are subsampled (stratified, seeded) to bound CPU time


def embeddings_cache_dir() -> Path:
    return paths.cache_dir() / "embeddings"


@torch.no_grad()
def embed(texts: Sequence[str], encoder: str = "minilm", max_length: int = 64, batch_size: int = 128,
          progress: bool = True) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` from the frozen encoder (cached by content hash)."""
    from transformers import AutoModel, AutoTokenizer

    texts = [str(t) for t in texts]
    key = hashlib.sha256(("\n".join(texts) + f"|{encoder}|{max_length}").encode("utf-8")).hexdigest()[:24]
    cache = embeddings_cache_dir() / f"{encoder}-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    path = resolve_student(encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_torch_threads()
    model = AutoModel.from_pretrained(path).eval()
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc=f"embed {encoder}", leave=False, disable=not progress):
        batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        chunks.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    out = np.vstack(chunks) if chunks else np.empty((0, model.config.hidden_size), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(cache)
    return out


def training_groups(frame: pd.DataFrame) -> np.ndarray:
    """CV groups of a training set: ``pair_id`` where the set has pairs, else ``topic``."""
    if "pair_id" in frame.columns and frame["pair_id"].astype(str).str.len().gt(0).all():
        return frame["pair_id"].astype(str).to_numpy()
    return frame["topic"].astype(str).to_numpy()


def subsample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, whole groups kept, chosen with a seeded generator."""
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    groups = pd.unique(training_groups(frame))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    sizes = pd.Series(training_groups(frame)).value_counts()
    chosen, total = [], 0
    for i in order:
        if total >= max_rows:
            break
        chosen.append(groups[i])
        total += int(sizes[groups[i]])
    return frame[pd.Series(training_groups(frame)).isin(set(chosen)).to_numpy()].reset_index(drop=True)


def choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> tuple[float, dict[str, float]]:
    """The C of :data:`C_GRID` with the best mean held-out ROC-AUC over grouped, stratified folds."""
    n_splits = min(folds, len(np.unique(groups)))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    splits = list(splitter.split(x, y, groups))
    for c in C_GRID:
        fold_scores = []
        for train, test in splits:
            model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            model.fit(x[train], y[train])
            fold_scores.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))
        scores[str(c)] = float(np.mean(fold_scores))
    best = max(C_GRID, key=lambda c: (scores[str(c)], -c))
    return best, scores


def _score_row(train_set: str, method: str, benchmark: str, frame: pd.DataFrame, prob: np.ndarray,
               n_resamples: int, seed: int) -> dict[str, object]:
    y = frame["binary_label"].astype(int).to_numpy()
    metrics = binary_metrics(y, prob)
    low, high = bootstrap_ci(y, prob[None, :], "roc_auc", n_resamples=n_resamples, seed=seed)
    lc = length_controlled_roc_auc(frame["initial_request"].astype(str).tolist(), y, prob)
    return {"train_set": train_set, "method": method, "benchmark": benchmark, "n": int(len(y)),
            "roc_auc": metrics["roc_auc"], "roc_auc_low": low, "roc_auc_high": high,
            "lc_roc_auc": lc["auc"], "lc_coverage": lc["coverage"], "macro_f1": metrics["macro_f1"]}


def benchmark_frames() -> dict[str, pd.DataFrame]:
    """The probe's benchmarks, CLAMBER's headline subclasses also one by one (``clamber:<subclass>``)."""
    frames = {name: load_eval_set(name).reset_index(drop=True) for name in PROBE_SETS}
    for sub in CLAMBER_HEADLINE_SUBCLASSES:
        part = frames["clamber"][frames["clamber"]["subclass"] == sub].reset_index(drop=True)
        frames[f"clamber:{sub}"] = part
    return frames


def probe_training_set(name: str, benchmarks: dict[str, pd.DataFrame], config: ProbeConfig = ProbeConfig(),
                       progress: bool = True) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Rows of the transfer table for one training set (probe and length-only control) and its fit record."""
    frame = subsample(load_teacher_set(name), config.max_rows, config.seed)
    texts = frame["initial_request"].astype(str).tolist()
    y = frame["binary_label"].astype(int).to_numpy()
    x = embed(texts, config.encoder, config.max_length, config.batch_size, progress)
    c, cv = choose_c(x, y, training_groups(frame), config.folds, config.seed)
    probe = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)
    length_model = fit_length_only(texts, y.tolist(), seed=config.seed)
    rows = []
    for bench, data in benchmarks.items():
        bench_texts = data["initial_request"].astype(str).tolist()
        bx = embed(bench_texts, config.encoder, config.max_length, config.batch_size, progress)
        rows.append(_score_row(name, f"probe_{config.encoder}", bench, data, probe.predict_proba(bx)[:, 1],
                               config.n_resamples, config.seed))
        rows.append(_score_row(name, "length_only", bench, data, length_model.predict_proba(bench_texts)[:, 1],
                               config.n_resamples, config.seed))
    record = {"train_set": name, "rows": len(frame), "c": c, "cv_roc_auc": cv[str(c)], "cv_scores": cv,
              "grouped_by": "pair_id" if "pair_id" in frame.columns else "topic"}
    return rows, record


def probe_table(spec: str | Sequence[str] = "all", config: ProbeConfig = ProbeConfig(),
                progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long transfer table (one row per training set, method, benchmark) and the per-set fit records."""
    names = resolve_teacher_sets(spec)
    benchmarks = benchmark_frames()
    rows: list[dict[str, object]] = []
    records = []
    for name in tqdm(names, desc="probe training sets", disable=not progress):
        set_rows, record = probe_training_set(name, benchmarks, config, progress=False)
        rows += set_rows
        records.append(record)
    return pd.DataFrame(rows), pd.DataFrame(records)


def wide_table(long: pd.DataFrame, metric: str = "roc_auc") -> pd.DataFrame:
    """One row per (training set, method), one column per benchmark, plus the mean over ClariQ, AmbigNQ and
    CLAMBER (the headline)."""
    wide = long.pivot_table(index=["train_set", "method"], columns="benchmark", values=metric, sort=False)
    wide["mean_3"] = wide[["clariq", "ambignq", "clamber"]].mean(axis=1)
    return wide.reset_index()


def nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
