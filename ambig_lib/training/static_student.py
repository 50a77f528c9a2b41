"""The fast tier: a static-embedding student with a logistic-regression head.

A transformer student (minilm: 6 layers, 384 hidden) needs ~0.3 GFLOP per query, which caps it at ~6 ms and
~160 queries/s on this 2-core CPU however it is exported. The static student moves the encoder's work to
training time:

1. **Distil** the sentence encoder into one static vector per vocabulary token with Model2Vec
   (``model2vec.distill.distill_from_model``: each token is passed through the encoder, the outputs are reduced
   by PCA and SIF-weighted, then stored as float16). Three to six minutes on a shared 2-core CPU, cached under
   ``data/cache/models/``. The forward pass, the pooling and the PCA run in float64 (``_float64_distillation``),
   so the stored float16 vectors are the same bytes on any CPU and thread count (see ``distill_static_encoder``).
2. **Train** a logistic-regression head on the mean-pooled, normalised token vectors of a teacher set. The
   regularisation strength is chosen by cross-validation on the teacher set itself, folds grouped by topic
   (never on ClariQ / AmbigNQ).
3. **Export** the whole predictor (token lookup, masked mean, normalisation, head) as one ONNX graph with the
   same directory layout as the transformer export, so ``serving.Predictor``, the CLI and the latency study
   serve it unchanged; the int8 variant quantises the embedding table and the head.

Run summaries (``runs/static-<base>/<teacher>/<seed>/static_summary.json``) are committed; exports are not.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import atomic_path, sha256_file, sha256_text, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.teacher_sets import load_teacher_set, teacher_set_source
from ambig_lib.models.store import models_cache_dir
from ambig_lib.models.students import encoder_only_load, resolve_student, student_label
from ambig_lib.runs import run_dir, write_predictions

SUMMARY_FILE = "static_summary.json"
HEAD_FILE = "head.npz"
ENCODER_META = "ambig_static_encoder.json"
#: How the encoder was distilled (recorded beside it; a cached encoder of another precision is redone).
PRECISION = "float64 forward, pooling and PCA; float16 vectors"
#: Libraries recorded in the provenance besides ``serving.software_versions``'s.
STATIC_DISTS: tuple[str, ...] = ("model2vec", "scikit-learn")


class StaticStudentError(AmbigError):
    """The static student cannot be distilled, trained or exported as asked."""


@dataclass(frozen=True)
class StaticConfig:
    """Recipe of the static student: encoder distillation and the head's cross-validated regularisation."""

    base: str = "minilm"
    pca_dims: int = 256
    sif_coefficient: float = 1e-4
    #: Inverse regularisation strengths tried by the cross-validation (log-spaced).
    cs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    cv_folds: int = 5
    #: Scoring used to pick C on held-out synthetic folds.
    selection_metric: str = "roc_auc"
    max_iter: int = 2000
    #: Newton steps with a Cholesky solve converge to the unique optimum to ~1e-13, so the fitted head does not
    #: depend on how a machine sums (lbfgs's default tolerance stops it wherever the gradient first looks small).
    solver: str = "newton-cholesky"
    tol: float = 1e-10

    def base_label(self) -> str:
        """Path-safe name of the base encoder (a registered name, or the last part of a path)."""
        return student_label(self.base)

    def encoder_name(self) -> str:
        return f"static-{self.base_label()}-pca{self.pca_dims}-sif{self.sif_coefficient:g}"


# ------------------------------------------------------------------------------------------- encoder


def static_encoder_dir(config: StaticConfig = StaticConfig()) -> Path:
    """Where the distilled static encoder of ``config`` is cached."""
    return models_cache_dir() / config.encoder_name()


def distill_static_encoder(config: StaticConfig = StaticConfig(), force: bool = False) -> Path:
    """Distil (or reuse) the static encoder of ``config.base``; returns its directory (Model2Vec format)."""
    target = static_encoder_dir(config)
    meta_path = target / ENCODER_META
    if meta_path.is_file() and not force:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("base_dir") == str(_base_dir(config)) and meta.get("precision") == PRECISION:
            return target
    try:
        from model2vec.distill import distill_from_model
    except ImportError as exc:  # pragma: no cover - model2vec is a declared dependency
        raise StaticStudentError("model2vec is not installed. Fix: pip install 'model2vec==0.10.0' "
                                 "'skeletoken==0.6.1' (see pyproject.toml).") from exc
    from transformers import AutoModel, AutoTokenizer

    source = _base_dir(config)
    started = time.perf_counter()

    with encoder_only_load():
        model = AutoModel.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    with _float64_distillation():
        static = distill_from_model(model, tokenizer, pca_dims=config.pca_dims, device="cpu",
                                    sif_coefficient=config.sif_coefficient, quantize_to="float16")
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    static.save_pretrained(str(tmp))
    weights = tmp / "model.safetensors"
    meta = {"base": config.base, "base_dir": str(source), "pca_dims": config.pca_dims, "precision": PRECISION,
            "sif_coefficient": config.sif_coefficient, "vocab_size": int(static.embedding.shape[0]),
            "seconds": round(time.perf_counter() - started, 1),
            "weights_sha256": sha256_file(weights) if weights.is_file() else None, "versions": software_versions(STATIC_DISTS)}
    write_json_atomic(tmp / ENCODER_META, meta)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target


@contextmanager
def _float64_distillation() -> Iterator[None]:
    """Make Model2Vec's distillation give the same bytes on any x86-64 CPU and thread count.

    Model2Vec 0.10 runs the encoder in float32, pools in float32 (``torch.bmm``) and fits the PCA on the float32
    matrix. Float32 sums differ in their last bits between kernels (AVX2 vs AVX-512, MKL / oneDNN / OpenBLAS
    code paths, thread splits), and the PCA turns those ~1e-7 relative differences into different float16
    vectors: another encoder SHA-256 on another machine. Here the forward pass, the masked mean and the PCA run
    in float64: machine differences shrink to ~1e-15 relative, about 1e-11 of the float16 rounding step, so
    the stored float16 table is the same bytes everywhere (checked under different thread counts and
    instruction sets by ``tests/test_static_determinism.py``). Only the two steps are swapped, for the
    duration of the call; vocabulary handling, SIF weights and the output format stay Model2Vec's.
    """
    from model2vec.distill import distillation

    original_embed, original_pca = distillation.create_embeddings, distillation.apply_pca

    def pca64(embeddings: np.ndarray, pca_dims: Any) -> np.ndarray:
        return original_pca(np.asarray(embeddings, dtype=np.float64), pca_dims)

    distillation.create_embeddings, distillation.apply_pca = _create_embeddings_float64, pca64
    try:
        yield
    finally:
        distillation.create_embeddings, distillation.apply_pca = original_embed, original_pca


def _create_embeddings_float64(model: Any, tokenized: list[list[int]], device: str, pad_token_id: int,
                               pooling: Any = "mean", batch_size: int = 256) -> np.ndarray:
    """Masked mean of the encoder's last hidden state for each token sequence, computed in float64."""
    import torch

    if str(getattr(pooling, "value", pooling)) != "mean":
        raise StaticStudentError(f"pooling {pooling!r}: only mean pooling is supported by the float64 distillation.")
    model = model.to(device).double().eval()
    order = np.argsort([len(ids) for ids in tokenized], kind="stable")
    out = np.zeros((len(tokenized), model.config.hidden_size), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = [torch.tensor(tokenized[i], dtype=torch.long) for i in index]
            input_ids = torch.nn.utils.rnn.pad_sequence(batch, batch_first=True, padding_value=pad_token_id)
            lengths = torch.tensor([len(tokenized[i]) for i in index])
            mask = (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()
            hidden = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            weights = mask.to(device=hidden.device, dtype=torch.float64)
            pooled = (hidden * weights[:, :, None]).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)
            out[index] = pooled.cpu().numpy()
    return np.nan_to_num(out)


def _base_dir(config: StaticConfig) -> Path:
    return resolve_student(config.base)


def load_static_encoder(encoder_dir: str | os.PathLike[str]):  # noqa: ANN201 - model2vec.StaticModel
    """The Model2Vec ``StaticModel`` saved in ``encoder_dir``."""
    from model2vec import StaticModel

    return StaticModel.from_pretrained(os.fspath(encoder_dir))


def encode(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """Normalised mean of the static token vectors of each text (float64, one row per text).

    What Model2Vec's ``encode`` computes (same tokens, mean, unit length), but in float64 and without its final
    cast back to float16: a sum of float16 vectors is exact in float64 (the mean and the norm round once or
    sum in a fixed order), so the features, and the head trained
    on them, do not depend on the CPU's summation order. A text without tokens gives a zero row.
    """
    table = np.asarray(encoder.embedding, dtype=np.float64)
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float64)
    for row, ids in enumerate(encoder.tokenize(list(texts))):
        if ids:
            out[row] = table[np.asarray(ids, dtype=np.int64)].mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]
    return np.divide(out, norms, out=out, where=norms > 0)


# ----------------------------------------------------------------------------------------------- head


@dataclass
class StaticStudent:
    """A trained static student: its encoder directory and the logistic head."""

    encoder_dir: Path
    coef: np.ndarray  # (dims,)
    intercept: float
    summary: dict[str, Any]

    def predict_proba(self, texts: Sequence[str], encoder: Any | None = None) -> np.ndarray:
        """P(ambiguous) computed the reference way (Model2Vec encode + numpy head), float64."""
        encoder = encoder if encoder is not None else load_static_encoder(self.encoder_dir)
        z = encode(encoder, texts) @ self.coef.astype(np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def static_label(config: StaticConfig = StaticConfig()) -> str:
    """The name the static student goes by in run directories and tables (``static-minilm``)."""
    return f"static-{config.base_label()}"


def static_run_dir(teacher: str, seed: int = 0, config: StaticConfig = StaticConfig()) -> Path:
    """``runs/static-<base>/<teacher>/<seed>``: summary, head and predictions (committed), export (not)."""
    return run_dir(static_label(config), teacher, seed)


def write_static_predictions(teacher: str, eval_sets: dict[str, pd.DataFrame], seed: int = 0,
                             config: StaticConfig = StaticConfig()) -> dict[str, Path]:
    """Train (or reuse) the static student of ``teacher``; write ``predictions_<set>.tsv`` beside its summary."""
    student = train_static_student(teacher, seed, config)
    encoder = load_static_encoder(student.encoder_dir)
    written: dict[str, Path] = {}
    for name, data in eval_sets.items():
        texts = data["initial_request"].astype(str).tolist()
        target = static_run_dir(teacher, seed, config) / f"predictions_{name}.tsv"
        write_predictions(target, texts, data["binary_label"].tolist(), student.predict_proba(texts, encoder))
        written[name] = target
    return written


def train_static_student(teacher: str, seed: int = 0, config: StaticConfig = StaticConfig(),
                         frame: pd.DataFrame | None = None, force: bool = False) -> StaticStudent:
    """Fit (or reuse) the head on teacher set ``teacher``; C picked by topic-grouped CV on that set only."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score


    run = static_run_dir(teacher, seed, config)
    encoder_dir = distill_static_encoder(config)
    frame = frame if frame is not None else load_teacher_set(teacher)
    texts = frame["initial_request"].astype(str).tolist()
    labels = frame["binary_label"].astype(int).to_numpy()
    groups = frame["topic"].astype(str).to_numpy() if "topic" in frame else np.arange(len(frame))
    if len(set(labels.tolist())) != 2:
        raise StaticStudentError(f"teacher set {teacher!r} holds one class only; the head needs both.")
    fingerprint = {"teacher": teacher, "seed": seed, "config": asdict(config), "n_rows": len(frame),
                   "data_sha256": _frame_sha(texts, labels),
                   "encoder_sha256": json.loads((encoder_dir / ENCODER_META).read_text())["weights_sha256"]}
    cached = reuse_static_student(run, fingerprint, encoder_dir) if not force else None
    if cached is not None:
        return cached
    encoder = load_static_encoder(encoder_dir)
    features = encode(encoder, texts)
    n_splits = min(config.cv_folds, len(set(groups.tolist())))
    if n_splits < 2:
        raise StaticStudentError(f"teacher set {teacher!r} has fewer than 2 topics; cross-validation needs 2.")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    cv_scores: dict[str, float] = {}
    for c in config.cs:
        scores = cross_val_score(_head(config, c, seed), features, labels, groups=groups, cv=splitter,
                                 scoring=config.selection_metric)
        cv_scores[repr(c)] = float(np.mean(scores))
    best_c = float(max(config.cs, key=lambda c: (cv_scores[repr(c)], -c)))
    head = _head(config, best_c, seed).fit(features, labels)
    # stored on the float32 grid (~6e-8 relative), a million times coarser than the optimum's precision, so
    # every machine stores the same bytes (and the ONNX graph computes in float32 anyway)
    head.coef_ = head.coef_.astype(np.float32).astype(np.float64)
    head.intercept_ = head.intercept_.astype(np.float32).astype(np.float64)
    try:
        source = teacher_set_source(teacher)
    except AmbigError:
        source = teacher
    summary = {**fingerprint, "teacher_source": source, "best_c": best_c,
               "cv_selection": {"metric": config.selection_metric, "folds": n_splits, "grouped_by": "topic",
                                "scores": cv_scores},
               "train_accuracy": float(head.score(features, labels)), "versions": software_versions(STATIC_DISTS),
               "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return save_static_student(run, encoder_dir, head.coef_[0], float(head.intercept_[0]), summary)


def save_static_student(run: Path, encoder_dir: Path, coef: np.ndarray, intercept: float,
                        summary: dict[str, Any]) -> StaticStudent:
    """Write ``head.npz`` and the summary (with the head's SHA-256) to ``run``; the student they describe."""
    coef = np.asarray(coef, dtype=np.float64)
    run.mkdir(parents=True, exist_ok=True)
    with atomic_path(run / HEAD_FILE) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, coef=coef, intercept=np.float64(intercept))
    summary["head_sha256"] = sha256_file(run / HEAD_FILE)
    write_json_atomic(run / SUMMARY_FILE, summary)
    return StaticStudent(encoder_dir, coef, float(intercept), summary)


def _head(config: StaticConfig, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver=config.solver, tol=config.tol, max_iter=config.max_iter,
                              class_weight="balanced", random_state=seed)


def reuse_static_student(run: Path, fingerprint: dict[str, Any], encoder_dir: Path) -> StaticStudent | None:
    """The student saved in ``run`` when its summary records every value of ``fingerprint``, else None."""
    summary_path, head_path = run / SUMMARY_FILE, run / HEAD_FILE
    if not (summary_path.is_file() and head_path.is_file()):
        return None
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    fingerprint = json.loads(json.dumps(fingerprint))  # tuples as lists, as read back from JSON
    if any(summary.get(k) != v for k, v in fingerprint.items()):
        return None
    with np.load(head_path) as head:
        coef, intercept = head["coef"], float(head["intercept"])
    return StaticStudent(encoder_dir, coef, intercept, summary)


def _frame_sha(texts: Sequence[str], labels: np.ndarray) -> str:
    return sha256_text("\n".join(f"{int(y)}\t{t}" for t, y in zip(texts, labels, strict=True)))
