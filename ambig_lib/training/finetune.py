"""K-fold fine-tuning of a student on a synthetic teacher set with the HF ``Trainer``; fold ensemble; run dirs.

The recipe (the published one, repaired): stratified k-fold CV on the synthetic set only; per fold, early
stopping and the best epoch are chosen on that fold's held-out synthetic part (macro-F1); cross-entropy with
class weights and label smoothing, both applied in ``WeightedSmoothedTrainer.compute_loss``; AdamW, linear
warm-up/decay, dynamic padding, length-grouped batches. The best weights of each fold are kept in memory (no
per-epoch checkpoints on disk) and saved once. Evaluation sets are only ever *predicted*, after every fold
has been trained and selected; ``train_cv`` never receives them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from tqdm.auto import tqdm
from transformers import (
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_text, write_json_atomic, write_text_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.models.students import (
    load_classifier,
    load_tokenizer,
    pick_device,
    resolve_student,
    set_torch_threads,
    student_label,
)
from ambig_lib.runs import SUMMARY_NAME, load_summary, run_dir, teacher_slug, write_predictions

#: ``TrainConfig`` fields that change how a run executes, never its result (ignored when reusing a run).
RUNTIME_ONLY_FIELDS = ("torch_threads", "save_fold_models")


class TrainingError(AmbigError):
    """Training data or configuration is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one cross-validated fine-tuning run (defaults: the repaired published recipe)."""
    folds: int = 5
    max_epochs: int = 10
    patience: int = 3
    learning_rate: float = 2e-5
    weight_decay: float = 0.02
    warmup_ratio: float = 0.1
    batch_size: int = 32
    eval_batch_size: int = 128
    max_length: int = 64
    label_smoothing: float = 0.1
    class_weighting: str = "balanced"  # "balanced" or "none"
    group_by_length: bool = True
    selection_metric: str = "macro_f1"
    torch_threads: int | None = None  # None: all cores
    save_fold_models: bool = True
    max_rows: int | None = None  # stratified subsample of the training set (e.g. the AmbigNQ ceiling)


# --------------------------------------------------------------------------------------------- loss


def class_weights_for(labels: Sequence[int], mode: str = "balanced", num_labels: int = 2) -> np.ndarray:
    """``n / (k * count_c)`` per class (sklearn's "balanced"), or ones for ``mode="none"``."""
    y = np.asarray(labels, dtype=int)
    if mode == "none":
        return np.ones(num_labels, dtype=np.float64)
    if mode != "balanced":
        raise TrainingError(f"class_weighting={mode!r}; choose 'balanced' or 'none'.")
    counts = np.bincount(y, minlength=num_labels).astype(np.float64)
    if (counts == 0).any():
        raise TrainingError(f"Class counts {counts.tolist()}: every class needs at least one example.")
    return len(y) / (num_labels * counts)


def weighted_smoothed_ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                         smoothing: float) -> torch.Tensor:
    """Cross-entropy with per-class weights and label smoothing (PyTorch's definition, weighted mean)."""
    return torch.nn.functional.cross_entropy(
        logits.float(), labels.long(), weight=None if weights is None else weights.to(logits.device, torch.float32),
        label_smoothing=float(smoothing),
    )


class WeightedSmoothedTrainer(Trainer):
    """``Trainer`` whose loss is ``weighted_smoothed_ce`` (the Trainer's own smoothing stays off)."""
    def __init__(self, *args: Any, class_weights: np.ndarray | None = None, smoothing: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.smoothing = smoothing

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = weighted_smoothed_ce(outputs.logits, labels, self.class_weights, self.smoothing)
        inputs["labels"] = labels
        return (loss, outputs) if return_outputs else loss


# ------------------------------------------------------------------------------------------- data


class EncodedTexts(torch.utils.data.Dataset):
    """Tokenised texts (no padding; the collator pads each batch) with optional labels; keeps the texts."""
    def __init__(self, tokenizer: Any, texts: Sequence[str], labels: Sequence[int] | None, max_length: int):
        self.texts = [str(t) for t in texts]
        self.labels = None if labels is None else [int(v) for v in labels]
        self.encodings = tokenizer(self.texts, truncation=True, max_length=max_length)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {key: values[index] for key, values in self.encodings.items()}
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item


def validate_training_data(texts: Sequence[str], labels: Sequence[int], folds: int) -> None:
    """Raise ``TrainingError`` for an empty set, bad labels, a single class or too few rows per class."""
    if len(texts) == 0:
        raise TrainingError("The training set is empty. Fix: pass a teacher set with rows of both labels.")
    if len(texts) != len(labels):
        raise TrainingError(f"{len(texts)} texts but {len(labels)} labels.")
    y = np.asarray(labels)
    bad = sorted({v for v in y.tolist() if v not in (0, 1)})
    if bad:
        raise TrainingError(f"Labels must be 0 (clear) or 1 (ambiguous); found {bad[:5]}.")
    counts = np.bincount(y.astype(int), minlength=2)
    if (counts == 0).any():
        only = int(np.argmax(counts))
        raise TrainingError(f"The training set has a single class (all {len(y)} rows are label {only}). "
                            "Fix: a classifier needs both specific (0) and ambiguous (1) examples.")
    if counts.min() < folds:
        raise TrainingError(f"Stratified {folds}-fold CV needs at least {folds} rows per class; class counts "
                            f"are {counts.tolist()}. Fix: add rows or lower `folds`.")
    if any(not str(t).strip() for t in texts):
        raise TrainingError("The training set holds an empty text. Fix: drop empty initial_request rows.")


def stratified_subsample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, class proportions kept, order kept (seeded)."""
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(frame)), train_size=max_rows, random_state=seed,
                               stratify=frame["binary_label"].to_numpy())
    return frame.iloc[np.sort(keep)].reset_index(drop=True)


# ------------------------------------------------------------------------------------ callbacks


class BestWeightsCallback(TrainerCallback):
    """Keep the best weights (by held-out metric) in memory and stop after ``patience`` epochs without gain."""
    def __init__(self, metric: str, patience: int) -> None:
        self.metric = metric
        self.patience = patience
        self.best_value = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.history: list[dict[str, float]] = []

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):  # noqa: ANN001, ANN201
        if not metrics or model is None:
            return control
        value = float(metrics[f"eval_{self.metric}"])
        epoch = int(round(state.epoch or 0))
        self.history.append({"epoch": epoch, "val_macro_f1": float(metrics.get("eval_macro_f1", math.nan)),
                             "val_accuracy": float(metrics.get("eval_accuracy", math.nan)),
                             "val_loss": float(metrics.get("eval_loss", math.nan))})
        train_loss = next((r["loss"] for r in reversed(state.log_history) if "loss" in r), math.nan)
        # progress, not a result: stderr (a headless notebook run's log), never the notebook's stdout
        tqdm.write(f"  epoch {epoch}: held-out synthetic macro-F1 {value:.4f}, loss "
                   f"{metrics.get('eval_loss', math.nan):.4f} (train {train_loss:.4f})", file=sys.stderr)
        if value > self.best_value + 1e-12:  # ties keep the earlier epoch
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                control.should_training_stop = True
        return control


def _selection_metrics(eval_pred: Any) -> dict[str, float]:
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = np.asarray(logits).argmax(-1)
    return {"macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
            "accuracy": float((preds == labels).mean())}


# ----------------------------------------------------------------------------------------- folds


@dataclass
class FoldResult:
    """One fold: where its rows went, what selection saw, and its best weights."""
    fold: int
    train_index: list[int]
    val_index: list[int]
    best_epoch: int
    best_val_macro_f1: float
    epochs_run: int
    history: list[dict[str, float]]
    wall_s: float
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    path: str | None = None

    def public(self) -> dict[str, Any]:
        """JSON-ready record (no weights, no indices)."""
        return {"fold": self.fold, "best_epoch": self.best_epoch, "best_val_macro_f1": self.best_val_macro_f1,
                "epochs_run": self.epochs_run, "train_rows": len(self.train_index),
                "val_rows": len(self.val_index), "wall_s": round(self.wall_s, 2), "history": self.history,
                "path": paths.portable_path(self.path) if self.path else None}


@dataclass
class CVResult:
    """The fold models of a cross-validated run and everything needed to predict with them."""
    student: str
    student_path: str
    config: TrainConfig
    seed: int
    folds: list[FoldResult]
    class_weights: list[float]
    device: str
    torch_threads: int
    wall_s: float

    def predict_proba(self, texts: Sequence[str], desc: str = "predict") -> tuple[np.ndarray, np.ndarray]:
        """P(ambiguous) of the fold ensemble (mean over folds) and per fold (shape ``folds x n``)."""
        tokenizer = load_tokenizer(self.student_path)
        model = load_classifier(self.student_path)
        per_fold = []
        for fold in tqdm(self.folds, desc=desc, leave=False):
            if fold.state_dict is not None:
                model.load_state_dict(fold.state_dict)
            elif fold.path is not None:
                model = load_classifier(fold.path)
            else:
                raise TrainingError(f"Fold {fold.fold} has neither weights in memory nor a saved checkpoint.")
            per_fold.append(predict_proba(model, tokenizer, texts, self.config.max_length,
                                          self.config.eval_batch_size, self.device))
        matrix = np.vstack(per_fold) if per_fold else np.empty((0, len(texts)))
        return matrix.mean(axis=0), matrix


@torch.no_grad()
def predict_proba(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 64,
                  batch_size: int = 128, device: str | None = None) -> np.ndarray:
    """P(label 1) for each text; batches are length-sorted and dynamically padded."""
    device = device or pick_device()
    model.to(device).eval()
    texts = [str(t) for t in texts]
    out = np.empty(len(texts), dtype=np.float64)
    lengths = [len(t) for t in texts]
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        logits = model(**batch).logits.float()
        out[idx] = torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()
    return out


def training_arguments(config: TrainConfig, seed: int, out_dir: str, steps_per_epoch: int, device: str
                   ) -> TrainingArguments:
    total_steps = steps_per_epoch * config.max_epochs
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in fields:  # transformers >= 5
        sampling = {"train_sampling_strategy": "group_by_length" if config.group_by_length else "random"}
    else:
        sampling = {"group_by_length": config.group_by_length}
    return TrainingArguments(
        output_dir=out_dir, num_train_epochs=config.max_epochs, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, warmup_steps=int(math.ceil(config.warmup_ratio * total_steps)),
        lr_scheduler_type="linear", optim="adamw_torch_fused", per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size, eval_strategy="epoch", save_strategy="no",
        logging_strategy="epoch", report_to=[], seed=seed, data_seed=seed, label_smoothing_factor=0.0,
        dataloader_num_workers=0, disable_tqdm=True, use_cpu=device == "cpu", bf16=use_bf16,
        fp16=device == "cuda" and not use_bf16, save_total_limit=1, **sampling,
    )


def train_cv(texts: Sequence[str], labels: Sequence[int], student: str, config: TrainConfig = TrainConfig(),
             seed: int = 0, output_dir: Path | None = None,
             observer: Callable[[str, int, list[str]], None] | None = None,
             only_fold: int | None = None) -> CVResult:
    """Stratified k-fold fine-tuning on (synthetic) ``texts``/``labels`` only.

    ``observer(role, fold, texts)`` is told every text the fold's Trainer trains on (``role="train"``) and
    selects on (``role="select"``). With ``output_dir``, each fold's best model is saved to ``fold_<k>/``.
    ``only_fold=k`` trains fold ``k`` alone (same split, same seed) and skips the others.
    """
    texts = [str(t) for t in texts]
    labels = [int(v) for v in labels] if len(labels) else []
    validate_training_data(texts, labels, config.folds)
    path = resolve_student(student)
    device = pick_device()
    threads = set_torch_threads(config.torch_threads)
    tokenizer = load_tokenizer(path)
    collator = DataCollatorWithPadding(tokenizer)
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=seed)
    y = np.asarray(labels)
    folds: list[FoldResult] = []
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="ambig-trainer-")
    try:
        for k, (train_idx, val_idx) in enumerate(tqdm(list(splitter.split(np.zeros(len(y)), y)),
                                                      desc=f"{student_label(student)} folds")):
            if only_fold is not None and k != only_fold:
                continue
            fold_started = time.perf_counter()
            train_texts = [texts[i] for i in train_idx]
            val_texts = [texts[i] for i in val_idx]
            if observer is not None:
                observer("train", k, train_texts)
                observer("select", k, val_texts)
            train_ds = EncodedTexts(tokenizer, train_texts, y[train_idx], config.max_length)
            val_ds = EncodedTexts(tokenizer, val_texts, y[val_idx], config.max_length)
            set_seed(seed)
            model = load_classifier(path)
            steps = math.ceil(len(train_ds) / config.batch_size)
            weights = class_weights_for(y[train_idx], config.class_weighting)
            best = BestWeightsCallback(config.selection_metric, config.patience)
            trainer = WeightedSmoothedTrainer(
                model=model, args=training_arguments(config, seed, scratch, steps, device), train_dataset=train_ds,
                eval_dataset=val_ds, data_collator=collator, compute_metrics=_selection_metrics,
                callbacks=[best], class_weights=weights, smoothing=config.label_smoothing,
            )
            trainer.remove_callback(PrinterCallback)  # it print()s every log dict; the epoch line above has them
            trainer.train()
            losses = {int(round(r["epoch"])): float(r["loss"]) for r in trainer.state.log_history if "loss" in r}
            for row in best.history:
                row["train_loss"] = losses.get(row["epoch"], math.nan)
            if best.best_state is None:
                raise TrainingError(f"Fold {k}: no evaluation happened, so no epoch could be selected.")
            model.load_state_dict(best.best_state)
            fold_path = None
            if output_dir is not None and config.save_fold_models:
                fold_dir = Path(output_dir) / f"fold_{k}"
                if fold_dir.exists():
                    shutil.rmtree(fold_dir)
                model.save_pretrained(fold_dir)
                tokenizer.save_pretrained(fold_dir)
                fold_path = str(fold_dir)
            folds.append(FoldResult(
                fold=k, train_index=train_idx.tolist(), val_index=val_idx.tolist(), best_epoch=best.best_epoch,
                best_val_macro_f1=best.best_value, epochs_run=len(best.history), history=best.history,
                wall_s=time.perf_counter() - fold_started, state_dict=best.best_state, path=fold_path,
            ))
            del trainer, model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return CVResult(student=student_label(student), student_path=str(path), config=config, seed=seed, folds=folds,
                    class_weights=class_weights_for(y, config.class_weighting).tolist(), device=device,
                    torch_threads=threads, wall_s=time.perf_counter() - started)


# -------------------------------------------------------------------------------------------- runs


def _fold_scores(labels: np.ndarray, matrix: np.ndarray) -> list[dict[str, float]]:
    scores = []
    for k, prob in enumerate(matrix):
        pred = (prob >= 0.5).astype(int)
        auc = float(roc_auc_score(labels, prob)) if len(set(labels.tolist())) == 2 else math.nan
        scores.append({"fold": k, "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0)),
                       "roc_auc": auc, "predicted_ambiguous_rate": float(pred.mean())})
    return scores


def train_run(student: str, teacher: str, seed: int, frame: pd.DataFrame, config: TrainConfig = TrainConfig(),
              predict_sets: Mapping[str, pd.DataFrame] | None = None, out_dir: Path | None = None,
              observer: Callable[[str, int, list[str]], None] | None = None) -> dict[str, Any]:
    """Train ``student`` on ``frame`` (k-fold), then predict ``predict_sets``; write the run directory.

    ``frame`` needs ``initial_request`` and ``binary_label``. ``predict_sets`` (name -> frame) are touched only
    after every fold is trained and selected. Returns the training summary (also written as JSON).
    """
    out_dir = Path(out_dir) if out_dir is not None else run_dir(student, teacher, seed)
    if frame is None or len(frame) == 0:
        raise TrainingError(f"Teacher set {teacher!r} is empty. Fix: pass a set with rows of both labels.")
    for column in ("initial_request", "binary_label"):
        if column not in frame.columns:
            raise TrainingError(f"Training frame lacks column {column!r}; it has {list(frame.columns)}.")
    frame = stratified_subsample(frame, config.max_rows, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = frame["initial_request"].astype(str).tolist()
    labels = frame["binary_label"].astype(int).tolist()
    result = train_cv(texts, labels, student, config, seed, out_dir, observer)
    summary: dict[str, Any] = {
        "student": result.student, "student_path": paths.portable_path(result.student_path), "teacher": str(teacher), "seed": seed,
        "hyperparameters": asdict(config), "train_rows": len(texts),
        "train_class_counts": np.bincount(np.asarray(labels), minlength=2).tolist(),
        "train_texts_sha256": sha256_text("\n".join(texts)),
        "train_data_sha256": training_data_sha256(texts, labels), "class_weights": result.class_weights,
        "folds": [f.public() for f in result.folds],
        "mean_best_val_macro_f1": float(np.mean([f.best_val_macro_f1 for f in result.folds])),
        "note": "best_val_macro_f1 is measured on held-out synthetic rows and used only to pick epochs; "
                "it is not the model's quality on real queries.",
        "train_wall_s": round(result.wall_s, 2), "device": result.device, "torch_threads": result.torch_threads,
        "versions": software_versions(), "predictions": {}, "fold_scores": {},
    }
    write_set_predictions(out_dir, summary, result.predict_proba, predict_sets or {})
    summary["wall_s"] = round(result.wall_s, 2)
    write_json_atomic(out_dir / SUMMARY_NAME, summary)
    return summary


def write_set_predictions(out_dir: Path, summary: dict[str, Any],
                          predict: Callable[..., tuple[np.ndarray, np.ndarray]],
                          predict_sets: Mapping[str, pd.DataFrame]) -> None:
    """Predict each set with the fold ensemble ``predict`` and write ``predictions_<set>.tsv`` (the mean) and
    ``fold_probabilities_<set>.tsv``; record both in ``summary`` (``predictions``, ``fold_scores``)."""
    summary.setdefault("predictions", {})
    summary.setdefault("fold_scores", {})
    for name, data in predict_sets.items():
        prob, matrix = predict(data["initial_request"].astype(str).tolist(), desc=f"predict {name}")
        y = data["binary_label"].astype(int).to_numpy()
        target = out_dir / f"predictions_{name}.tsv"
        write_predictions(target, data["initial_request"].tolist(), y, prob)
        folds_frame = pd.DataFrame(matrix.T, columns=[f"fold_{k}" for k in range(len(matrix))]).round(6)
        write_text_atomic(out_dir / f"fold_probabilities_{name}.tsv", folds_frame.to_csv(sep="\t", index=False))
        summary["predictions"][name] = target.name
        summary["fold_scores"][name] = _fold_scores(y, matrix)


def saved_fold_predictor(fold_dirs: Sequence[Path], config: TrainConfig
                         ) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``predict(texts, desc)`` of a run's saved fold models: the mean P(ambiguous) and the per-fold matrix."""
    def predict(texts: Sequence[str], desc: str = "predict") -> tuple[np.ndarray, np.ndarray]:
        tokenizer = load_tokenizer(fold_dirs[0])
        matrix = np.vstack([predict_proba(load_classifier(folder), tokenizer, texts, config.max_length,
                                          config.eval_batch_size) for folder in tqdm(fold_dirs, desc=desc, leave=False)])
        return matrix.mean(axis=0), matrix
    return predict


def train_fold_model(student: str, teacher: str, seed: int = 0, fold: int = 0,
                     config: TrainConfig | None = None) -> Path:
    """Train fold ``fold`` of the run ``(student, teacher, seed)`` alone and save it to ``<run_dir>/fold_<k>``.

    For a run whose predictions exist but whose checkpoints do not (they are not committed): the fold's split,
    seed and recipe are the run's own, so the model is that fold's model up to floating-point differences.
    """
    config = config or TrainConfig()
    if not 0 <= fold < config.folds:
        raise TrainingError(f"fold={fold}; the run has folds 0..{config.folds - 1}.")
    frame = stratified_subsample(load_teacher_set(teacher), config.max_rows, seed)
    out = run_dir(student, teacher, seed)
    out.mkdir(parents=True, exist_ok=True)
    train_cv(frame["initial_request"].astype(str).tolist(), frame["binary_label"].astype(int).tolist(), student,
             dataclasses.replace(config, save_fold_models=True), seed, out, only_fold=fold)
    return out / f"fold_{fold}"


def fold_model_dir(student: str, teacher: str, seed: int = 0, fold: int = 0, train_if_missing: bool = False
                   ) -> Path:
    """The saved model of one fold of a training run (``runs/<student>/<teacher>/<seed>/fold_<k>``).

    One fold model is what gets deployed: the fold ensemble would multiply latency by the number of folds.
    Checkpoints are not committed, so with ``train_if_missing`` a missing fold model is trained alone (same
    split, seed and recipe as the run's fold; minutes on a CPU).
    """
    folder = run_dir(student, teacher, seed) / f"fold_{fold}"
    if not (folder / "config.json").is_file() and train_if_missing:
        train_fold_model(student, teacher, seed, fold)
    if not (folder / "config.json").is_file():
        raise TrainingError(f"No trained model at {folder}. Fix: run notebooks/03 (training) for student "
                            f"{student!r} on {teacher!r} seed {seed}, or pass model_dir= a save_pretrained "
                            "directory (scripts/make_dev_student.py makes a quick stand-in).")
    return folder


def training_data_sha256(texts: Sequence[str], labels: Sequence[int]) -> str:
    """SHA-256 of the training rows as ``text<TAB>label`` lines, in order."""
    return sha256_text("".join(f"{t}\t{int(v)}\n" for t, v in zip(texts, labels, strict=True)))


def stale_reason(summary: Mapping[str, Any], frame: pd.DataFrame, config: TrainConfig, seed: int) -> str | None:
    """Why a finished run no longer matches ``frame`` and ``config`` (None when it still does)."""
    wanted = json.loads(json.dumps(asdict(config)))
    recorded = summary.get("hyperparameters", {})
    changed = sorted(k for k in wanted if k not in RUNTIME_ONLY_FIELDS and recorded.get(k) != wanted[k])
    if changed:
        return "hyper-parameters changed: " + ", ".join(changed)
    sub = stratified_subsample(frame, config.max_rows, seed)
    digest = training_data_sha256(sub["initial_request"].astype(str).tolist(), sub["binary_label"].astype(int).tolist())
    if summary.get("train_data_sha256") != digest:
        return "training data changed"
    return None


def train_or_reuse(student: str, teacher: str, seed: int, frame: pd.DataFrame, config: TrainConfig,
                   predict_sets: Mapping[str, pd.DataFrame], resume: bool = True) -> tuple[dict[str, Any], str]:
    """Reuse a finished run when its hyper-parameters and training rows are unchanged, else (re)train.

    Returns the summary and a status: ``up to date``, ``trained`` or ``retrained (<reason>)``.
    """
    summary = load_summary(student, teacher, seed) if resume else None
    reason = stale_reason(summary, frame, config, seed) if summary is not None else None
    if summary is not None and reason is None:
        portable = portable_summary(summary)
        out_dir = run_dir(student, teacher, seed)
        missing = {name: data for name, data in predict_sets.items() if name not in portable.get("predictions", {})}
        fold_dirs = [out_dir / f"fold_{k}" for k in range(config.folds)]
        # only the run's own checkpoints (recorded in its summary), never folds retrained alone afterwards
        own = all(fold.get("path") for fold in portable.get("folds", []))
        if missing and own and all((folder / "config.json").is_file() for folder in fold_dirs):
            write_set_predictions(out_dir, portable, saved_fold_predictor(fold_dirs, config), missing)
            write_json_atomic(out_dir / SUMMARY_NAME, portable)
            return portable, "up to date (predicted " + ", ".join(missing) + " with the saved fold models)"
        if not missing:
            if portable != summary:  # written before paths were made portable: fix them, no retraining
                write_json_atomic(out_dir / SUMMARY_NAME, portable)
            return portable, "up to date"
        reason = f"no predictions for {', '.join(missing)} and no saved fold models of its own"
    status = "trained" if summary is None else f"retrained ({reason})"
    return train_run(student, teacher, seed, frame, config, predict_sets), status


def portable_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``summary`` with its paths (student, fold directories) named portably (``paths.portable_path``).

    A path written on another machine is not under this one's folders; it is recognised by its tail instead:
    ``.../models/<student>`` is ``cache:models/<student>``, ``.../<student>/<teacher>/<seed>/fold_<k>`` is
    ``runs/<student>/<teacher>/<seed>/fold_<k>``.
    """
    fixed = dict(summary)
    student = str(fixed.get("student", ""))
    if fixed.get("student_path"):
        fixed["student_path"] = _portable_tail(fixed["student_path"], f"models/{student}", "cache:")
    if isinstance(fixed.get("folds"), list):
        run = f"{student}/{teacher_slug(str(fixed.get('teacher', '')))}/{fixed.get('seed')}"
        fixed["folds"] = [{**f, "path": _portable_tail(f["path"], f"{run}/fold_{f.get('fold')}", "runs/")}
                          if isinstance(f, dict) and f.get("path") else f for f in fixed["folds"]]
    return fixed


def _portable_tail(path: str, tail: str, prefix: str) -> str:
    portable = paths.portable_path(path)
    if Path(portable).is_absolute() and Path(portable).as_posix().endswith("/" + tail):
        return prefix + tail
    return portable


def fold_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Per-fold best epoch, synthetic-val macro-F1, and each fold model's own scores on the eval sets."""
    rows = []
    for fold in summary["folds"]:
        row = {"fold": fold["fold"], "best_epoch": fold["best_epoch"], "epochs_run": fold["epochs_run"],
               "synthetic_val_macro_f1": fold["best_val_macro_f1"], "wall_s": fold["wall_s"]}
        for name, scores in summary.get("fold_scores", {}).items():
            row[f"{name}_macro_f1"] = scores[fold["fold"]]["macro_f1"]
            row[f"{name}_roc_auc"] = scores[fold["fold"]]["roc_auc"]
        rows.append(row)
    return pd.DataFrame(rows)
