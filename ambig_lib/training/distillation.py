"""Knowledge distillation: the best fold ensemble labels the transfer pool with soft probabilities, and the fast
static student learns them.

1. **Soft labels.** ``ensemble_soft_labels`` is the mean P(ambiguous) over every fold model of the teacher runs
   ``runs/<student>/<teacher set>/<seed>/fold_<k>`` (the fold ensemble of ``finetune.CVResult.predict_proba``,
   over seeds too). ``soft_labels`` computes them once for ``data/pool/transfer_pool.tsv`` and caches them in
   ``data/pool/soft_labels_<student>_<teacher set>.tsv`` (committed) with provenance: the teacher runs (each
   run's ``train_data_sha256`` and hyper-parameters from its training summary) and the pool's SHA-256. The cache
   is reused only while both are unchanged, so a retrained or better teacher is picked up by re-running. When
   only the pool grew, the cached queries keep their labels and the new queries alone are labelled.
2. **The distilled static tier.** The static student's encoder (``static_student``: Model2Vec vectors) with a
   logistic head fit on the soft targets: each query appears twice, as label 1 with weight p and as label 0
   with weight 1 - p, which minimises the cross-entropy to p. C is chosen by agreement with the teacher on a
   seeded held-out 10% of the pool (ROC-AUC of the student's scores against the teacher's hard labels
   ``p >= 0.5``, ties by mean |p_student - p_teacher|), never on evaluation labels. The head is fit on the other
   90% only, so the held-out part stays an honest agreement measure for choosing between tiers. The result is a
   ``StaticStudent``: ``serving.static_export.export_static_onnx`` exports it unchanged.

``distil`` runs the three steps; the ``distil`` subcommand calls it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_bytes, sha256_file, write_bytes_atomic, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import safe_name
from ambig_lib.data.pool import ensure_transfer_pool, load_transfer_pool, pool_path, provenance_path
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.models.students import load_classifier, load_tokenizer, student_label
from ambig_lib.runs import load_summary, run_dir, teacher_slug
from ambig_lib.training.finetune import (
    RUNTIME_ONLY_FIELDS,
    TrainConfig,
    TrainingError,
    fold_model_dir,
    predict_proba,
    stratified_subsample,
    training_data_sha256,
)
from ambig_lib.training.static_student import (
    ENCODER_META,
    HEAD_FILE,
    STATIC_DISTS,
    SUMMARY_FILE,
    StaticConfig,
    StaticStudent,
    distill_static_encoder,
    encode,
    load_static_encoder,
    reuse_static_student,
    save_static_student,
)

DEFAULT_TEACHER_STUDENT = "mpnet"
DEFAULT_TEACHER_SET = "seed/gpt-4.1"
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
DEFAULT_FOLDS = 5
#: Share of the pool held out (seeded) to choose the head's C by agreement with the teacher.
HOLDOUT_FRACTION = 0.1
#: The static recipe of the distilled student (the static tier's own: minilm, 256 dimensions).
DEFAULT_STATIC_CONFIG = StaticConfig()
SOFT_LABEL_COLUMNS = ("query", "p_ambiguous")
#: Decimals kept of each soft label in the cached TSV.
SOFT_LABEL_DECIMALS = 6
SELECTION_RULE = ("C with the highest ROC-AUC of the student's held-out scores against the teacher's hard labels "
                  "(p >= 0.5); ties by the lower mean |p_student - p_teacher|, then the smaller C")


class DistillationError(AmbigError):
    """The teacher ensemble, the soft labels or the distilled student cannot be made as asked."""


# ------------------------------------------------------------------------------------------ teacher


def training_command(student: str, teacher_set: str, seeds: Sequence[int]) -> str:
    """The command that trains (and saves the fold models of) the teacher runs."""
    return (f"ambig train --students {student} --teachers {teacher_set} "
            f"--seeds {' '.join(str(int(s)) for s in seeds)}")


def teacher_fold_dirs(student: str = DEFAULT_TEACHER_STUDENT, teacher_set: str = DEFAULT_TEACHER_SET,
                      seeds: Sequence[int] = DEFAULT_SEEDS, folds: int = DEFAULT_FOLDS,
                      train_if_missing: bool = False) -> list[tuple[int, Path]]:
    """(seed, fold model directory) of every fold model of the ensemble, all checked before any is used."""
    found: list[tuple[int, Path]] = []
    for seed in seeds:
        for fold in range(folds):
            try:
                found.append((int(seed), fold_model_dir(student, teacher_set, int(seed), fold, train_if_missing)))
            except TrainingError:
                if train_if_missing:
                    raise  # training the missing fold failed: its own message says why
                missing = run_dir(student, teacher_set, int(seed)) / f"fold_{fold}"
                raise DistillationError(
                    f"No fold model at {paths.portable_path(missing)} (the teacher ensemble needs {folds} folds x "
                    f"seeds {list(seeds)}). Fix: add --train-if-missing to ambig distil (trains each missing fold alone) or "
                    f"train the runs: {training_command(student, teacher_set, seeds)}.") from None
    return found


def _run_max_length(student: str, teacher_set: str, seed: int) -> int:
    summary = load_summary(student, teacher_set, seed)
    recorded = (summary or {}).get("hyperparameters", {}).get("max_length")
    return int(recorded) if recorded else TrainConfig().max_length


def ensemble_soft_labels(queries: Sequence[str], student: str = DEFAULT_TEACHER_STUDENT,
                         teacher_set: str = DEFAULT_TEACHER_SET, seeds: Sequence[int] = DEFAULT_SEEDS,
                         folds: int = DEFAULT_FOLDS, batch_size: int = 256, progress: bool = True,
                         train_if_missing: bool = False, device: str | None = None) -> np.ndarray:
    """Mean P(ambiguous) of ``queries`` over every fold model of the runs of ``student`` on ``teacher_set``
    with ``seeds`` (each predicted as the run predicts: its ``max_length``, ``finetune.predict_proba``)."""
    texts = [str(q) for q in queries]
    fold_dirs = teacher_fold_dirs(student, teacher_set, seeds, folds, train_if_missing)
    per_fold: list[np.ndarray] = []
    for seed, folder in tqdm(fold_dirs, desc=f"soft labels ({student_label(student)} ensemble)",
                             disable=not progress):
        model = load_classifier(folder)
        per_fold.append(predict_proba(model, load_tokenizer(folder), texts,
                                      _run_max_length(student, teacher_set, seed), batch_size, device))
        del model
    return np.vstack(per_fold).mean(axis=0)


def teacher_runs(student: str = DEFAULT_TEACHER_STUDENT, teacher_set: str = DEFAULT_TEACHER_SET,
                 seeds: Sequence[int] = DEFAULT_SEEDS, folds: int = DEFAULT_FOLDS) -> dict[str, Any]:
    """What identifies the teacher ensemble: its runs, each with the ``train_data_sha256`` and hyper-parameters
    of its training summary (or, for fold models trained alone, the hash of the teacher set's current rows)."""
    runs = []
    for seed in seeds:
        summary = load_summary(student, teacher_set, int(seed))
        if summary is not None:
            digest, origin = summary.get("train_data_sha256"), "training_summary.json"
            hyper = {k: v for k, v in summary.get("hyperparameters", {}).items() if k not in RUNTIME_ONLY_FIELDS}
        else:
            config = TrainConfig()
            rows = stratified_subsample(load_teacher_set(teacher_set), config.max_rows, int(seed))
            digest = training_data_sha256(rows["initial_request"].astype(str).tolist(),
                                          rows["binary_label"].astype(int).tolist())
            origin = "teacher set (no training summary)"
            hyper = {k: v for k, v in asdict(config).items() if k not in RUNTIME_ONLY_FIELDS}
        runs.append({"seed": int(seed), "run": paths.portable_path(run_dir(student, teacher_set, int(seed))),
                     "train_data_sha256": digest, "train_data_sha256_from": origin, "hyperparameters": hyper})
    return json.loads(json.dumps({
        "student": student_label(student), "teacher_set": str(teacher_set), "seeds": [int(s) for s in seeds],
        "folds": int(folds), "ensemble": "mean P(ambiguous) over every fold model of every seed", "runs": runs}))


# ------------------------------------------------------------------------------------- soft labels


def soft_labels_path(student: str = DEFAULT_TEACHER_STUDENT, teacher_set: str = DEFAULT_TEACHER_SET) -> Path:
    """``data/pool/soft_labels_<student>_<teacher set>.tsv``."""
    return paths.pool_dir() / (f"soft_labels_{safe_name(student_label(student))}_"
                               f"{safe_name(teacher_slug(teacher_set))}.tsv")


def write_soft_labels(pool_file: str | Path | None, labels: Sequence[float] | np.ndarray, teacher: dict[str, Any],
                      path: str | Path | None = None) -> Path:
    """Write ``query, p_ambiguous`` for every pool query (atomic) and the provenance beside it."""
    pool_file = Path(pool_file) if pool_file is not None else pool_path()
    pool = load_transfer_pool(pool_file)
    values = np.asarray(labels, dtype=np.float64)
    if values.shape != (len(pool),) or not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        raise DistillationError(f"{values.shape[0] if values.ndim else 0} soft labels for {len(pool)} pool queries, "
                                "or values outside [0, 1]. Fix: compute them with ensemble_soft_labels on "
                                "this pool.")
    target = Path(path) if path is not None else soft_labels_path(teacher["student"], teacher["teacher_set"])
    frame = pd.DataFrame({"query": pool["query"], "p_ambiguous": np.round(values, SOFT_LABEL_DECIMALS)})
    data = frame.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")
    provenance = {
        "soft_labels_file": paths.portable_path(target.resolve()), "soft_labels_sha256": sha256_bytes(data),
        "rows": len(frame), "columns": list(SOFT_LABEL_COLUMNS), "decimals": SOFT_LABEL_DECIMALS,
        "pool_file": paths.portable_path(pool_file.resolve()), "pool_sha256": sha256_file(pool_file),
        "teacher": teacher, "mean_p_ambiguous": round(float(values.mean()), 6),
        "share_p_at_least_half": round(float((values >= 0.5).mean()), 6), "versions": software_versions(),
    }
    write_bytes_atomic(target, data)
    write_json_atomic(provenance_path(target), provenance)
    return target


def soft_labels_stale_reason(pool_file: str | Path | None, teacher: dict[str, Any],
                             path: str | Path | None = None) -> str | None:
    """Why the cached soft labels cannot be reused for this pool and teacher (None when they can)."""
    pool_file = Path(pool_file) if pool_file is not None else pool_path()
    target = Path(path) if path is not None else soft_labels_path(teacher["student"], teacher["teacher_set"])
    if not target.is_file() or not provenance_path(target).is_file():
        return "no cached soft labels"
    recorded = json.loads(provenance_path(target).read_text(encoding="utf-8"))
    if sha256_file(target) != recorded.get("soft_labels_sha256"):
        return "the cached file differs from its recorded SHA-256"
    if recorded.get("pool_sha256") != sha256_file(pool_file):
        return "the pool changed"
    if recorded.get("teacher") != json.loads(json.dumps(teacher)):
        return "the teacher runs changed"
    return None


def reusable_soft_labels(teacher: dict[str, Any], path: str | Path | None = None) -> dict[str, float]:
    """The cached labels by query when the cache is intact and of this very teacher (its pool may differ), so
    that a grown pool is labelled for its new queries only; empty otherwise."""
    target = Path(path) if path is not None else soft_labels_path(teacher["student"], teacher["teacher_set"])
    if not target.is_file() or not provenance_path(target).is_file():
        return {}
    recorded = json.loads(provenance_path(target).read_text(encoding="utf-8"))
    if sha256_file(target) != recorded.get("soft_labels_sha256") or \
            recorded.get("teacher") != json.loads(json.dumps(teacher)):
        return {}
    frame = pd.read_csv(target, sep="\t", dtype={"query": str}, keep_default_na=False)
    if list(frame.columns) != list(SOFT_LABEL_COLUMNS):
        return {}
    return dict(zip(frame["query"].astype(str), frame["p_ambiguous"].astype(float), strict=True))


def load_soft_labels(pool_file: str | Path | None = None, teacher: dict[str, Any] | None = None,
                     path: str | Path | None = None) -> pd.DataFrame:
    """The cached soft labels (``query, p_ambiguous``), checked against their recorded SHA-256, the pool's and
    (when given) the teacher runs'; a clear error when they are missing or stale."""
    if path is None and teacher is None:
        raise DistillationError("load_soft_labels needs the teacher (teacher_runs(...)) or the file's path.")
    target = Path(path) if path is not None else soft_labels_path(teacher["student"], teacher["teacher_set"])
    if teacher is None:
        teacher = json.loads(provenance_path(target).read_text(encoding="utf-8"))["teacher"] \
            if provenance_path(target).is_file() else {}
    reason = soft_labels_stale_reason(pool_file, teacher, target)
    if reason is not None:
        raise DistillationError(f"{target}: {reason}. Fix: recompute them with soft_labels() (it needs the "
                                "teacher's fold models) or restore the committed files (git checkout data/pool).")
    frame = pd.read_csv(target, sep="\t", dtype={"query": str}, keep_default_na=False)
    if list(frame.columns) != list(SOFT_LABEL_COLUMNS):
        raise DistillationError(f"{target}, line 1: columns {list(frame.columns)}, expected "
                                f"{list(SOFT_LABEL_COLUMNS)}. Fix: recompute them with soft_labels().")
    return frame


@dataclass
class SoftLabels:
    """Soft labels of the pool, where they are cached, whether they were reused, and the teacher they are of."""

    frame: pd.DataFrame
    path: Path
    status: str
    teacher: dict[str, Any]


def soft_labels(pool_file: str | Path | None = None, student: str = DEFAULT_TEACHER_STUDENT,
                teacher_set: str = DEFAULT_TEACHER_SET, seeds: Sequence[int] = DEFAULT_SEEDS,
                folds: int = DEFAULT_FOLDS, batch_size: int = 256, train_if_missing: bool = False,
                progress: bool = True, force: bool = False, path: str | Path | None = None,
                reuse_from: Sequence[str | Path] = ()) -> SoftLabels:
    """The ensemble's soft labels of the pool: the cache while the pool and the teacher runs are unchanged, else
    computed (the fold models are needed then) and cached. When only the pool changed, the queries the cache
    already holds keep their labels and only the new ones are labelled (``force`` labels every query again).
    ``reuse_from``: other soft-label files of the same teacher whose labels may be reused too.
    ``status``: ``up to date`` or ``computed (<why>; <n> queries labelled, <m> reused)``."""
    pool_file = Path(pool_file) if pool_file is not None else pool_path()
    teacher = teacher_runs(student, teacher_set, seeds, folds)
    target = Path(path) if path is not None else soft_labels_path(student, teacher_set)
    reason = "forced" if force else soft_labels_stale_reason(pool_file, teacher, target)
    status = "up to date"
    if reason is not None:
        queries = [str(q) for q in load_transfer_pool(pool_file)["query"].tolist()]
        known: dict[str, float] = {}
        if not force:
            for source in [*reuse_from, target]:  # the target's own labels win
                known.update(reusable_soft_labels(teacher, source))
        todo = [q for q in dict.fromkeys(queries) if q not in known]
        if todo:
            computed = ensemble_soft_labels(todo, student, teacher_set, seeds, folds, batch_size, progress,
                                            train_if_missing)
            known.update(zip(todo, (float(v) for v in computed), strict=True))
        write_soft_labels(pool_file, np.array([known[q] for q in queries], dtype=np.float64), teacher, target)
        status = f"computed ({reason}; {len(todo)} queries labelled, {len(queries) - len(todo)} reused)"
    return SoftLabels(load_soft_labels(pool_file, teacher, target), target, status, teacher)


# ------------------------------------------------------------------------------ soft-target head


def holdout_split(n_rows: int, seed: int = 0, fraction: float = HOLDOUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) row indices, each sorted; the held-out part is ``fraction`` of the rows."""
    if not 0 < fraction < 1 or n_rows < 2:
        raise DistillationError(f"Cannot hold out {fraction} of {n_rows} rows. Fix: a fraction in (0, 1) of at "
                                "least 2 rows.")
    order = np.random.default_rng(seed).permutation(n_rows)
    held = min(n_rows - 1, max(1, int(round(fraction * n_rows))))
    return np.sort(order[held:]), np.sort(order[:held])


def teacher_agreement(student_p: np.ndarray, teacher_p: np.ndarray) -> dict[str, float | None]:
    """Agreement of a student with the teacher: ROC-AUC of the student's scores against the teacher's hard
    labels (None when they hold one class), mean |p_student - p_teacher| and the share of equal hard labels."""
    student_p, teacher_p = np.asarray(student_p, dtype=float), np.asarray(teacher_p, dtype=float)
    hard = (teacher_p >= 0.5).astype(int)
    auc = float(roc_auc_score(hard, student_p)) if len(set(hard.tolist())) == 2 else None
    return {"roc_auc_vs_teacher_hard": auc, "mean_abs_diff": float(np.abs(student_p - teacher_p).mean()),
            "hard_agreement": float(((student_p >= 0.5).astype(int) == hard).mean())}


def agreement_rank(scores: dict[str, Any]) -> tuple[float, float]:
    """Sort key of ``teacher_agreement`` scores, higher is better: ROC-AUC against the teacher's hard labels
    (missing ranks last), then the lower mean |p_student - p_teacher|."""
    auc = scores.get("roc_auc_vs_teacher_hard")
    return (-math.inf if auc is None else float(auc), -float(scores.get("mean_abs_diff") or 0.0))


@dataclass(frozen=True)
class SoftHead:
    """A logistic head fit on soft targets, the C chosen on the held-out split, and what selection saw."""

    coef: np.ndarray
    intercept: float
    best_c: float
    selection: dict[str, Any]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(features, dtype=np.float64) @ self.coef + self.intercept)))


def _fit_soft_logistic(features: np.ndarray, targets: np.ndarray, c: float, config: StaticConfig,
                       seed: int) -> LogisticRegression:
    """Logistic regression minimising cross-entropy to ``targets``: each row as label 1 (weight p) and 0 (1-p)."""
    doubled = np.vstack([features, features])
    labels = np.r_[np.ones(len(targets), dtype=int), np.zeros(len(targets), dtype=int)]
    weights = np.r_[targets, 1.0 - targets]
    head = LogisticRegression(C=c, solver=config.solver, tol=config.tol, max_iter=config.max_iter,
                              random_state=seed)
    return head.fit(doubled, labels, sample_weight=weights)


def fit_soft_head(features: np.ndarray, targets: Sequence[float] | np.ndarray, config: StaticConfig = DEFAULT_STATIC_CONFIG,
                  seed: int = 0, holdout_fraction: float = HOLDOUT_FRACTION) -> SoftHead:
    """Fit a logistic head on soft targets for each C of ``config.cs`` on the training split; keep the one that
    agrees best with the teacher on the held-out split (``SELECTION_RULE``). The head is fit on the training
    split only and stored on the float32 grid (as ``train_static_student`` stores its head)."""
    x = np.asarray(features, dtype=np.float64)
    p = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(p) or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise DistillationError(f"features of shape {x.shape} and {len(p)} targets: need one row per target and "
                                "targets in [0, 1]. Fix: encode every pool query once and pass its soft label.")
    train, held = holdout_split(len(x), seed, holdout_fraction)
    scores: dict[str, dict[str, float | None]] = {}
    heads: dict[float, LogisticRegression] = {}
    for c in config.cs:
        heads[c] = _fit_soft_logistic(x[train], p[train], c, config, seed)
        scores[repr(c)] = teacher_agreement(heads[c].predict_proba(x[held])[:, 1], p[held])

    def rank(c: float) -> tuple[float, float, float]:
        return (*agreement_rank(scores[repr(c)]), -c)

    best_c = float(max(config.cs, key=rank))
    head = heads[best_c]
    coef = head.coef_[0].astype(np.float32).astype(np.float64)
    intercept = float(np.float32(head.intercept_[0]))
    selection = {"rule": SELECTION_RULE, "split": "seeded hold-out of the pool (never evaluation labels)",
                 "seed": seed, "holdout_fraction": holdout_fraction, "train_rows": int(len(train)),
                 "holdout_rows": int(len(held)), "scores": scores}
    return SoftHead(coef, intercept, best_c, selection)


# ------------------------------------------------------------------------- distilled static student


def distilled_static_label(teacher_student: str = DEFAULT_TEACHER_STUDENT, config: StaticConfig = DEFAULT_STATIC_CONFIG
                           ) -> str:
    """Run-directory name of the distilled static student: ``static-distilled-<base>-from-<teacher student>``."""
    return f"static-distilled-{config.base_label()}-from-{safe_name(student_label(teacher_student))}"


def distilled_static_run_dir(teacher_student: str = DEFAULT_TEACHER_STUDENT,
                             teacher_set: str = DEFAULT_TEACHER_SET, seed: int = 0,
                             config: StaticConfig = DEFAULT_STATIC_CONFIG) -> Path:
    """``runs/static-distilled-<base>-from-<teacher student>/<teacher set>/<seed>``: summary and head."""
    return run_dir(distilled_static_label(teacher_student, config), teacher_set, seed)


def train_distilled_static_student(labels: SoftLabels, pool_file: str | Path | None = None,
                                   config: StaticConfig = DEFAULT_STATIC_CONFIG, seed: int = 0,
                                   holdout_fraction: float = HOLDOUT_FRACTION, force: bool = False
                                   ) -> StaticStudent:
    """Fit (or reuse) the static student's head on the soft labels; saved like ``train_static_student``'s head,
    so ``export_static_onnx`` exports it unchanged."""
    pool_file = Path(pool_file) if pool_file is not None else pool_path()
    teacher = labels.teacher
    run = distilled_static_run_dir(teacher["student"], teacher["teacher_set"], seed, config)
    encoder_dir = distill_static_encoder(config)
    fingerprint = json.loads(json.dumps({
        "teacher": teacher["teacher_set"], "teacher_runs": teacher, "seed": seed, "config": asdict(config),
        "holdout_fraction": holdout_fraction, "n_rows": len(labels.frame), "pool_sha256": sha256_file(pool_file),
        "soft_labels_sha256": sha256_file(labels.path),
        "encoder_sha256": json.loads((encoder_dir / ENCODER_META).read_text(encoding="utf-8"))["weights_sha256"],
    }))
    cached = None if force else reuse_static_student(run, fingerprint, encoder_dir)
    if cached is not None:
        return cached
    features = encode(load_static_encoder(encoder_dir), labels.frame["query"].astype(str).tolist())
    head = fit_soft_head(features, labels.frame["p_ambiguous"].to_numpy(dtype=np.float64), config, seed,
                         holdout_fraction)
    summary = {**fingerprint, "kind": "distilled static student (soft targets)", "best_c": head.best_c,
               "soft_targets": "each query as label 1 with weight p and label 0 with weight 1 - p "
                               "(cross-entropy to the teacher's p), no class weighting",
               "pool_file": paths.portable_path(pool_file.resolve()),
               "soft_labels_file": paths.portable_path(labels.path.resolve()), "selection": head.selection,
               "holdout_agreement": head.selection["scores"][repr(head.best_c)],
               "versions": software_versions(STATIC_DISTS), "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return save_static_student(run, encoder_dir, head.coef, head.intercept, summary)


def distil(pool_spec: str | Sequence[str] = "all", teacher_student: str = DEFAULT_TEACHER_STUDENT,
           teacher_set: str = DEFAULT_TEACHER_SET, seeds: Sequence[int] = DEFAULT_SEEDS,
           static_base: str = "minilm", train_if_missing: bool = False, folds: int = DEFAULT_FOLDS, seed: int = 0,
           config: StaticConfig | None = None, batch_size: int = 256, progress: bool = True) -> dict[str, Any]:
    """Build (or keep) the transfer pool, compute (or reuse) the ensemble's soft labels, fit (or reuse) the
    distilled static student; returns what was written and its status. Re-running picks up a changed pool or
    retrained teacher runs. ``config`` overrides the static recipe (its ``base`` wins over ``static_base``)."""
    config = config or StaticConfig(base=static_base)
    _, pool_file, pool_status = ensure_transfer_pool(pool_spec)
    labels = soft_labels(pool_file, teacher_student, teacher_set, seeds, folds, batch_size, train_if_missing,
                         progress)
    student = train_distilled_static_student(labels, pool_file, config, seed)
    run = distilled_static_run_dir(teacher_student, teacher_set, seed, config)
    return {"pool": pool_file, "pool_rows": len(labels.frame), "pool_status": pool_status,
            "soft_labels": labels.path, "soft_labels_status": labels.status, "teacher": labels.teacher,
            "student": distilled_static_label(teacher_student, config), "run": run, "head": run / HEAD_FILE,
            "summary": run / SUMMARY_FILE, "best_c": student.summary["best_c"],
            "holdout_agreement": student.summary["holdout_agreement"], "static_student": student}
