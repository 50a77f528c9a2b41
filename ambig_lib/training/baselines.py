"""Baselines written as prediction TSVs next to the fine-tuned runs.

- ``length_only``: logistic regression on the query's length (words, characters), trained on a teacher set;
- ``tfidf_lr``: TF-IDF (word 1-2-grams) logistic regression, trained on the same teacher set;
- ``zero_shot_prototype``: the published zero-shot baseline: untuned encoder, cosine similarity of the
  first-token embedding to a "clear" and an "ambiguous" prototype sentence (softmax of the two similarities);
- ``supervised_ceiling``: the same student and recipe trained on real labelled queries (ClariQ train+dev ->
  ClariQ test; a stratified subsample of AmbigNQ train -> AmbigNQ dev);
- ``static_student``: the deployable fast tier (``static_student``: Model2Vec-distilled token vectors of an
  encoder + a logistic head) trained on each teacher set.
The constant "all ambiguous" classifier needs no file (see ``evaluation.evaluation_table``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from ambig_lib.core.errors import AmbigError
from ambig_lib.core.features import length_only_classifier, tfidf_classifier
from ambig_lib.data.benchmarks import EVAL_SETS, load_eval_set
from ambig_lib.data.ceilings import ceiling_teacher
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.models.students import encoder_only_load, pick_device, resolve_student, set_torch_threads
from ambig_lib.runs import baseline_dir, write_predictions
from ambig_lib.training.finetune import TrainConfig, train_or_reuse, validate_training_data
from ambig_lib.training.grid import job_inputs  # one place decides a ceiling's rows, config and test set
from ambig_lib.training.static_student import StaticConfig, write_static_predictions

#: The published prototype sentences (index 0 = clear, 1 = ambiguous).
PROTOTYPES = ("This is a clear, specific, unambiguous request.", "This request is vague, incomplete, or ambiguous.")
AMBIGNQ_CEILING_ROWS = 1000
AMBIGNQ_CEILING_NOTE = (f"trained on a stratified {AMBIGNQ_CEILING_ROWS}-row subsample of AmbigNQ train "
                        "(CPU budget); 5-fold CV selection inside it")


class BaselineError(AmbigError):
    """A baseline cannot be fitted or applied."""


def fit_length_only(texts: Sequence[str], labels: Sequence[int], seed: int = 0) -> Pipeline:
    """Logistic regression on (words, characters), standardised."""
    validate_training_data(list(texts), list(labels), folds=1)
    return length_only_classifier(seed).fit(list(texts), list(labels))


def fit_tfidf_lr(texts: Sequence[str], labels: Sequence[int], seed: int = 0) -> Pipeline:
    """TF-IDF of lower-cased word 1-2-grams (sublinear tf) + balanced logistic regression."""
    validate_training_data(list(texts), list(labels), folds=1)
    return tfidf_classifier(seed).fit(list(texts), list(labels))


def write_sklearn_baselines(teacher: str, frame: pd.DataFrame, eval_sets: dict[str, pd.DataFrame],
                            seed: int = 0) -> dict[str, Path]:
    """Fit ``length_only`` and ``tfidf_lr`` on a teacher set; write their predictions on every eval set."""
    texts = frame["initial_request"].astype(str).tolist()
    labels = frame["binary_label"].astype(int).tolist()
    written: dict[str, Path] = {}
    for method, fit in (("length_only", fit_length_only), ("tfidf_lr", fit_tfidf_lr)):
        model = fit(texts, labels, seed)
        for name, data in eval_sets.items():
            prob = model.predict_proba(data["initial_request"].astype(str).tolist())[:, 1]
            target = baseline_dir(method, teacher=teacher) / f"predictions_{name}.tsv"
            write_predictions(target, data["initial_request"].tolist(), data["binary_label"].tolist(), prob)
            written[f"{method}/{name}"] = target
    return written


@torch.no_grad()
def first_token_embeddings(student: str, texts: Sequence[str], batch_size: int = 64, max_length: int = 128
                           ) -> np.ndarray:
    """First-token ([CLS] / <s>) embeddings of the untuned encoder of ``student``."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_student(student)
    tokenizer = AutoTokenizer.from_pretrained(path)
    device = pick_device()
    set_torch_threads()
    with encoder_only_load():
        model = AutoModel.from_pretrained(path).to(device).eval()
    out = []
    for start in tqdm(range(0, len(texts), batch_size), desc=f"zero-shot {student}", leave=False):
        batch = tokenizer([str(t) for t in texts[start:start + batch_size]], truncation=True,
                          max_length=max_length, padding=True, return_tensors="pt").to(device)
        out.append(model(**batch).last_hidden_state[:, 0, :].float().cpu().numpy())
    return np.vstack(out) if out else np.empty((0, model.config.hidden_size))


def zero_shot_prototype_proba(student: str, texts: Sequence[str]) -> np.ndarray:
    """P(ambiguous) = softmax over the cosine similarities to the (clear, ambiguous) prototypes."""
    if len(texts) == 0:
        raise BaselineError("No texts to score.")
    emb = first_token_embeddings(student, list(texts) + list(PROTOTYPES))
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
    sims = emb[: len(texts)] @ emb[len(texts):].T  # (n, 2)
    sims = sims - sims.max(axis=1, keepdims=True)
    expo = np.exp(sims)
    return expo[:, 1] / expo.sum(axis=1)


def write_zero_shot(student: str, eval_sets: dict[str, pd.DataFrame]) -> dict[str, Path]:
    """Predictions of the zero-shot prototype baseline of ``student`` on every eval set."""
    written = {}
    for name, data in eval_sets.items():
        prob = zero_shot_prototype_proba(student, data["initial_request"].astype(str).tolist())
        target = baseline_dir("zero_shot_prototype", student=student) / f"predictions_{name}.tsv"
        write_predictions(target, data["initial_request"].tolist(), data["binary_label"].tolist(), prob)
        written[name] = target
    return written


def train_ceiling(student: str, dataset: str, seed: int = 0, config: TrainConfig | None = None,
                  resume: bool = True) -> dict:
    """Train (or reuse) the supervised ceiling of ``student`` for ``dataset``; predictions on ``dataset``."""
    teacher = ceiling_teacher(dataset)
    frame, config, predict_sets = job_inputs(teacher, config or TrainConfig(), (dataset,))
    summary, _ = train_or_reuse(student, teacher, seed, frame, config, predict_sets, resume)
    return summary


def run_baselines(students: Sequence[str], teachers: Sequence[str],
                  datasets: Sequence[str] = EVAL_SETS, ceilings: bool = True,
                  ceiling_seeds: Sequence[int] = (0,), config: TrainConfig | None = None,
                  resume: bool = True, static_bases: Sequence[str] = ()) -> pd.DataFrame:
    """Write every baseline's predictions; one status row per baseline.

    The sklearn baselines are refitted every time (seconds), so they always match the current teacher sets;
    the zero-shot prototype (no training data) is kept when present and ``resume``; ceilings are reused only
    while their configuration and training rows are unchanged. ``static_bases`` names the encoders whose static
    student is trained on every teacher set (heads are reused while their data and recipe are unchanged).
    """
    eval_sets = {name: load_eval_set(name) for name in datasets}
    rows = []

    def done(folder: Path) -> bool:
        return resume and all((folder / f"predictions_{name}.tsv").is_file() for name in datasets)

    for teacher in tqdm(teachers, desc="sklearn baselines"):  # seconds each: always refit on the current set
        write_sklearn_baselines(teacher, load_teacher_set(teacher), eval_sets)
        rows.append({"baseline": "length_only+tfidf_lr", "on": teacher, "status": "written"})
    for base in static_bases:
        for teacher in tqdm(teachers, desc=f"static students ({base})"):
            write_static_predictions(teacher, eval_sets, 0, StaticConfig(base=base))
            rows.append({"baseline": f"static_student ({base})", "on": teacher, "status": "written"})
    for student in students:
        if done(baseline_dir("zero_shot_prototype", student=student)):
            rows.append({"baseline": "zero_shot_prototype", "on": student, "status": "skipped (exists)"})
        else:
            write_zero_shot(student, eval_sets)
            rows.append({"baseline": "zero_shot_prototype", "on": student, "status": "written"})
        if not ceilings:
            continue
        for dataset in ("clariq_test", "ambignq"):
            if dataset not in datasets:
                continue
            for seed in ceiling_seeds:
                summary = train_ceiling(student, dataset, seed, config, resume)
                rows.append({"baseline": "supervised_ceiling", "on": f"{student} -> {dataset} (seed {seed})",
                             "status": f"train_rows={summary['train_rows']} wall_s={summary['wall_s']}"})
    return pd.DataFrame(rows)
