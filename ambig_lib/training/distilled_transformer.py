"""The small transformer tier: a student encoder cut to its first few layers, fine-tuned on the teacher
ensemble's soft labels of the transfer pool (knowledge distillation; see :mod:`ambig_lib.training.distillation`).

Recipe (``SmallTransformerConfig``):

- the student (default ``minilm``, 6 layers) keeps its embeddings and its first ``layers`` layers
  (``from_pretrained(..., num_hidden_layers=k)``). ``init`` says which weights: ``fine-tuned`` (default) starts
  from fold 0 of the student's own fine-tuned run on the teacher's set (``runs/<student>/<teacher set>/<seed>/
  fold_0``, trained when missing and ``train_if_missing``), head included; ``base`` from the pretrained
  encoder with a fresh two-class head. With the mpnet teacher, held-out agreement chose ``fine-tuned``
  (3 layers, epoch 3: ROC-AUC 0.9923 against 0.9904 for ``base``);
- loss (``loss``): ``soft_ce``, the cross-entropy to the teacher's probability, ``-(p log q + (1 - p) log(1 - q))``,
  which is the KL divergence to the teacher up to a constant; or ``logit_mse``, the squared error between the
  student's logit and the teacher's (``log p / (1 - p)``, p clipped to [1e-4, 1 - 1e-4]), the objective of Tang et
  al. (2019) for distilling BERT into small students; AdamW, linear schedule with warm-up, HF ``Trainer``, seeded;
- ``augmented`` (default 0): that many augmented variants of the training split's queries
  (``data.pool_augmentation``: word deletion and n-gram sampling, Tang et al. 2019), labelled by the same teacher
  once and cached beside the pool's soft labels (``soft_labels_<teacher>.augmented-<n>.tsv``; a larger ``n`` reuses
  the labels of a smaller one), join the training
  rows; the held-out split is unchanged, so every candidate is compared on the same queries;
- it trains on the pool's training split (``distillation.holdout_split``: the same seeded 90% the static head
  uses); after each epoch it is scored on the held-out 10% by agreement with the teacher
  (``distillation.teacher_agreement``: ROC-AUC against the teacher's hard labels, ties by the lower mean
  |p_student - p_teacher|). Every candidate depth of ``layers`` is trained; the (depth, epoch) with the best
  agreement is kept. No evaluation label is read.

The model is saved with ``save_pretrained`` to ``runs/distilled-<student>-from-<teacher student>/<teacher
set>/<seed>/model`` (not committed) with ``distilled_summary.json`` beside it (committed): the selection, every
epoch's agreement, the pool, soft-label and teacher fingerprints. A run whose fingerprint is unchanged is reused.
``serving.export.export_onnx`` exports it like any fine-tuned student.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainerCallback, set_seed

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_file, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import safe_name
from ambig_lib.data.pool_augmentation import AugmentConfig, ensure_augmented_pool
from ambig_lib.models.store import model_provenance
from ambig_lib.models.students import (
    float32_kwargs,
    load_tokenizer,
    pick_device,
    resolve_student,
    set_torch_threads,
    student_label,
)
from ambig_lib.runs import run_dir
from ambig_lib.training.distillation import (
    HOLDOUT_FRACTION,
    DistillationError,
    SoftLabels,
    agreement_rank,
    holdout_split,
    soft_labels,
    teacher_agreement,
)
from ambig_lib.training.finetune import TrainConfig, TrainingError, fold_model_dir, training_arguments

SUMMARY_FILE = "distilled_summary.json"
MODEL_DIR = "model"
SELECTION_RULE = ("(depth, epoch) with the highest ROC-AUC of the student's held-out pool scores against the "
                  "teacher's hard labels (p >= 0.5); ties by the lower mean |p_student - p_teacher|, then the "
                  "shallower depth and the earlier epoch")


@dataclass(frozen=True)
class SmallTransformerConfig:
    """How the small transformer is cut and distilled."""

    student: str = "minilm"
    layers: tuple[int, ...] = (3,)  # 2 layers lost to 3 at epoch 3 (agreement 0.9894 vs 0.9904, mpnet teacher)
    epochs: int = 6
    init: str = "fine-tuned"  # or "base"; see the module docstring
    loss: str = "soft_ce"  # or "logit_mse"; see the module docstring
    augmented: int = 0  # augmented transfer queries added to training (data.pool_augmentation); 0: none
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    batch_size: int = 64
    eval_batch_size: int = 256
    max_length: int = 64
    holdout_fraction: float = HOLDOUT_FRACTION
    torch_threads: int | None = None  # None: the free cores

    def train_config(self) -> TrainConfig:
        """The fields ``finetune.training_arguments`` reads, as a ``TrainConfig``."""
        return TrainConfig(max_epochs=self.epochs, learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                           warmup_ratio=self.warmup_ratio, batch_size=self.batch_size,
                           eval_batch_size=self.eval_batch_size, max_length=self.max_length, group_by_length=True)


def distilled_transformer_label(teacher_student: str, config: SmallTransformerConfig = SmallTransformerConfig()
                                ) -> str:
    """Run-directory name: ``distilled-<student>-from-<teacher student>``, with ``-<loss>`` after the student when
    the loss is not the default and ``-augmented<n>`` when augmented queries are added."""
    loss = "" if config.loss == DEFAULT_LOSS else f"-{safe_name(config.loss).replace('_', '-')}"
    loss += f"-augmented{config.augmented}" if config.augmented else ""
    return (f"distilled-{safe_name(student_label(config.student))}{loss}-from-"
            f"{safe_name(student_label(teacher_student))}")


def distilled_transformer_run_dir(teacher_student: str, teacher_set: str, seed: int = 0,
                                  config: SmallTransformerConfig = SmallTransformerConfig()) -> Path:
    """``runs/distilled-<student>-from-<teacher student>/<teacher set>/<seed>``."""
    return run_dir(distilled_transformer_label(teacher_student, config), teacher_set, seed)


INIT_CHOICES = ("fine-tuned", "base")
LOSS_CHOICES = ("soft_ce", "logit_mse")
DEFAULT_LOSS = "soft_ce"
#: The teacher's probability is clipped to [EPS, 1 - EPS] before its logit is taken (``logit_mse``).
LOGIT_EPS = 1e-4


def initial_weights(config: SmallTransformerConfig, teacher_set: str, seed: int = 0,
                    train_if_missing: bool = False) -> Path:
    """Where the cut student's weights come from: the pretrained student (``base``) or fold 0 of its own run on
    the teacher's set (``fine-tuned``; trained alone when missing and ``train_if_missing``)."""
    if config.init == "base":
        return resolve_student(config.student)
    if config.init != "fine-tuned":
        raise DistillationError(f"Unknown init {config.init!r}. Fix: one of {', '.join(INIT_CHOICES)}.")
    try:
        return fold_model_dir(config.student, teacher_set, seed, 0, train_if_missing)
    except TrainingError:
        if train_if_missing:
            raise
        missing = paths.portable_path(run_dir(config.student, teacher_set, seed) / "fold_0")
        raise DistillationError(
            f"No fold model at {missing}, where the small transformer starts (init 'fine-tuned'). Fix: add "
            f"--train-if-missing to ambig distil, or use --small-init base.") from None


def truncated_classifier(student: str | Path, layers: int) -> Any:
    """The first ``layers`` layers of a student (a name or a saved model directory) with a two-class head: the
    saved model's when it has one, else a fresh one (float32)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    path = resolve_student(student)
    full = AutoConfig.from_pretrained(path)
    available = int(getattr(full, "num_hidden_layers", 0))
    if not 1 <= layers <= available:
        raise DistillationError(f"Cannot keep {layers} layers of {student_label(student)} ({available} layers). "
                                f"Fix: choose depths between 1 and {available}.")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the dropped layers' weights and the fresh head are expected in the report
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            path, num_hidden_layers=layers, num_labels=2, id2label={0: "clear", 1: "ambiguous"},
            label2id={"clear": 0, "ambiguous": 1}, **float32_kwargs())
    finally:
        hf_logging.set_verbosity(verbosity)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of two-class ``logits`` to the soft targets P(class 1) (KL to the teacher + const)."""
    log_q = torch.log_softmax(logits.float(), dim=-1)
    p = targets.to(log_q.dtype)
    return -(p * log_q[:, 1] + (1.0 - p) * log_q[:, 0]).mean()


def logit_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the two-class ``logits``' log-odds and the teacher's, from P(class 1)."""
    student = (logits[:, 1] - logits[:, 0]).float()
    p = targets.to(student.dtype).clamp(LOGIT_EPS, 1.0 - LOGIT_EPS)
    return ((student - torch.log(p / (1.0 - p))) ** 2).mean()


LOSSES = {"soft_ce": soft_cross_entropy, "logit_mse": logit_mse}
LOSS_DESCRIPTIONS = {"soft_ce": "cross-entropy to the teacher's P(ambiguous) (KL + const), no class weighting",
                     "logit_mse": f"squared error to the teacher's log-odds (P clipped to [{LOGIT_EPS}, "
                                  f"{1 - LOGIT_EPS}]), no class weighting"}


class SoftTargetTrainer(Trainer):
    """``Trainer`` whose loss (``soft_cross_entropy`` unless ``loss_name`` says otherwise) is computed against float
    labels (the teacher's probabilities)."""

    def __init__(self, *args: Any, loss_name: str = DEFAULT_LOSS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_fn = LOSSES[loss_name]  # validated by train_distilled_transformer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        targets = inputs.pop("labels")
        outputs = model(**inputs)
        loss = self.loss_fn(outputs.logits, targets)
        inputs["labels"] = targets
        return (loss, outputs) if return_outputs else loss


class SoftTargetTexts(torch.utils.data.Dataset):
    """Tokenised texts (padded per batch by the collator) with their soft targets as float labels."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], targets: Sequence[float], max_length: int) -> None:
        self.encodings = tokenizer([str(t) for t in texts], truncation=True, max_length=max_length)
        self.targets = [float(v) for v in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.targets[index]
        return item


class AgreementCallback(TrainerCallback):
    """Score held-out agreement with the teacher after every epoch; keep the best weights in memory."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float, float] = (-math.inf, -math.inf)
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):  # noqa: ANN001, ANN201
        if not metrics or model is None:
            return control
        epoch = int(round(state.epoch or 0))
        auc = metrics.get("eval_roc_auc_vs_teacher_hard")
        diff = float(metrics["eval_mean_abs_diff"])
        row = {"layers": self.depth, "epoch": epoch, "roc_auc_vs_teacher_hard": auc, "mean_abs_diff": diff,
               "hard_agreement": float(metrics["eval_hard_agreement"]),
               "holdout_loss": float(metrics.get("eval_loss", math.nan))}
        self.history.append(row)
        tqdm.write(f"  {self.depth} layers, epoch {epoch}: held-out agreement ROC-AUC {auc}, mean |dp| {diff:.4f}",
                   file=sys.stderr)  # progress, not a result
        key = agreement_rank(row)
        if key > self.best:  # ties keep the earlier epoch
            self.best, self.best_epoch = key, epoch
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return control


def _agreement_metrics(eval_pred: Any) -> dict[str, float]:
    logits, targets = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    logits = np.asarray(logits, dtype=np.float64)
    student_p = 1.0 / (1.0 + np.exp(-(logits[:, 1] - logits[:, 0])))
    scores = teacher_agreement(student_p, np.asarray(targets, dtype=np.float64))
    return {k: (math.nan if v is None else float(v)) for k, v in scores.items()}


def _init_provenance(init_dir: Path, config: SmallTransformerConfig) -> dict[str, Any]:
    if config.init == "base":
        return {"init": "base", "model": model_provenance(config.student)}
    weights = init_dir / "model.safetensors"
    return {"init": config.init, "model_dir": paths.portable_path(init_dir.resolve()),
            "weights_sha256": sha256_file(weights) if weights.is_file() else None}


#: Fields added after runs were saved: recorded in the fingerprint only when they differ from their default, so the
#: earlier runs (which trained with that default) stay reusable.
LATER_FIELDS: dict[str, Any] = {"loss": DEFAULT_LOSS, "augmented": 0}


def _fingerprint(labels: SoftLabels, config: SmallTransformerConfig, seed: int, init_dir: Path,
                 augmented: SoftLabels | None = None) -> dict[str, Any]:
    recorded = {k: v for k, v in asdict(config).items()
                if k != "torch_threads" and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
    return json.loads(json.dumps({
        "teacher_set": labels.teacher["teacher_set"], "teacher_runs": labels.teacher, "seed": int(seed),
        "config": recorded,
        "student_model": model_provenance(config.student), "initial_weights": _init_provenance(init_dir, config),
        "n_rows": len(labels.frame),
        "soft_labels_sha256": sha256_file(labels.path),
        **({} if augmented is None else {"augmented_soft_labels_sha256": sha256_file(augmented.path),
                                         "augmented_rows": len(augmented.frame)}),
    }))


def augmented_soft_labels(labels: SoftLabels, config: SmallTransformerConfig, seed: int, train_rows: np.ndarray,
                          train_if_missing: bool = False) -> SoftLabels | None:
    """The teacher's soft labels of ``config.augmented`` variants of the pool's training rows (built and
    labelled once, then cached under ``data/pool``), or None when ``config.augmented`` is 0."""
    if not config.augmented:
        return None
    queries = labels.frame["query"].astype(str).tolist()
    pool_file, _ = ensure_augmented_pool(labels.path, queries, train_rows.tolist(),
                                         AugmentConfig(variants=config.augmented, seed=seed))
    teacher = labels.teacher
    stem = labels.path.name.removesuffix(".tsv") + ".augmented"
    target = labels.path.with_name(f"{stem}-{config.augmented}.tsv")
    others = sorted(p for p in labels.path.parent.glob(f"{stem}-*.tsv") if p != target)
    return soft_labels(pool_file, teacher["student"], teacher["teacher_set"], teacher["seeds"], teacher["folds"],
                       train_if_missing=train_if_missing, path=target, reuse_from=others)


def reuse_distilled_transformer(run: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The saved run's summary when its fingerprint matches and its model is on disk, else None."""
    summary_path = run / SUMMARY_FILE
    if not summary_path.is_file() or not (run / MODEL_DIR / "config.json").is_file():
        return None
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if summary.get("fingerprint") != fingerprint:
        return None
    weights = run / MODEL_DIR / "model.safetensors"
    if weights.is_file() and summary.get("model_sha256") not in (None, sha256_file(weights)):
        return None
    return summary


def recipe(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A run's fingerprint without the hash of its initial weights: what it was trained from and how. A fine-tuned
    fold 0 retrained on another CPU differs in its last bits, so the same recipe there has another fingerprint."""
    initial = {k: v for k, v in fingerprint.get("initial_weights", {}).items() if k != "weights_sha256"}
    return {**fingerprint, "initial_weights": initial}


def _run_inputs(labels: SoftLabels, config: SmallTransformerConfig, seed: int, train_if_missing: bool
                ) -> tuple[Path, Path, np.ndarray, np.ndarray, SoftLabels | None, dict[str, Any]]:
    """The run directory, the initial weights, the pool's training and held-out rows, the augmented queries'
    labels and the fingerprint of one run."""
    if config.loss not in LOSSES:
        raise DistillationError(f"Unknown loss {config.loss!r}. Fix: one of {', '.join(LOSS_CHOICES)}.")
    teacher = labels.teacher
    run = distilled_transformer_run_dir(teacher["student"], teacher["teacher_set"], seed, config)
    init_dir = initial_weights(config, teacher["teacher_set"], seed, train_if_missing)
    train_idx, held_idx = holdout_split(len(labels.frame), seed, config.holdout_fraction)
    extra = augmented_soft_labels(labels, config, seed, train_idx, train_if_missing)
    return run, init_dir, train_idx, held_idx, extra, _fingerprint(labels, config, seed, init_dir, extra)


def recorded_distilled_transformer(labels: SoftLabels, config: SmallTransformerConfig = SmallTransformerConfig(),
                                   seed: int = 0, train_if_missing: bool = False) -> dict[str, Any] | None:
    """The saved summary of a run of this recipe (``recipe``), its model on disk or not, else None. Its held-out
    agreement is a measurement of that run; a fresh clone uses it to skip candidates that cannot win."""
    run, *_, fingerprint = _run_inputs(labels, config, seed, train_if_missing)
    summary_path = run / SUMMARY_FILE
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary if recipe(summary.get("fingerprint", {})) == recipe(fingerprint) else None


def train_distilled_transformer(labels: SoftLabels, config: SmallTransformerConfig = SmallTransformerConfig(),
                                seed: int = 0, force: bool = False, train_if_missing: bool = False
                                ) -> tuple[Path, dict[str, Any]]:
    """Distil the teacher's soft labels into the cut student (or reuse the saved run); returns the saved model
    directory and the run's summary."""
    run, init_dir, train_idx, held_idx, extra, fingerprint = _run_inputs(labels, config, seed, train_if_missing)
    texts = labels.frame["query"].astype(str).tolist()
    targets = labels.frame["p_ambiguous"].to_numpy(dtype=np.float64)
    cached = None if force else reuse_distilled_transformer(run, fingerprint)
    if cached is not None:
        return run / MODEL_DIR, cached
    train_texts = [texts[i] for i in train_idx]
    train_targets = targets[train_idx]
    if extra is not None:  # the held-out split stays the pool's own, the same for every candidate
        train_texts += extra.frame["query"].astype(str).tolist()
        train_targets = np.concatenate([train_targets, extra.frame["p_ambiguous"].to_numpy(dtype=np.float64)])
    device = pick_device()
    threads = set_torch_threads(config.torch_threads)
    tokenizer = load_tokenizer(resolve_student(config.student))
    train_ds = SoftTargetTexts(tokenizer, train_texts, train_targets, config.max_length)
    held_ds = SoftTargetTexts(tokenizer, [texts[i] for i in held_idx], targets[held_idx], config.max_length)
    steps = math.ceil(len(train_ds) / config.batch_size)
    history: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], int, int, dict[str, torch.Tensor]] | None = None
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="ambig-distil-")
    try:
        for depth in tqdm(sorted(set(config.layers)), desc=f"distil into {student_label(config.student)}"):
            set_seed(seed)
            model = truncated_classifier(init_dir, depth)
            callback = AgreementCallback(depth)
            trainer = SoftTargetTrainer(
                model=model, args=training_arguments(config.train_config(), seed, scratch, steps, device),
                train_dataset=train_ds, eval_dataset=held_ds, data_collator=DataCollatorWithPadding(tokenizer),
                compute_metrics=_agreement_metrics, callbacks=[callback], loss_name=config.loss)
            trainer.remove_callback(PrinterCallback)
            trainer.train()
            history.extend(callback.history)
            if callback.best_state is None:
                raise DistillationError(f"{depth} layers: no held-out evaluation happened, so no epoch was chosen.")
            if best is None or callback.best > best[0]:  # ties keep the shallower depth
                best = (callback.best, depth, callback.best_epoch, callback.best_state)
            del trainer, model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert best is not None
    _, depth, epoch, state = best
    model = truncated_classifier(init_dir, depth)
    model.load_state_dict(state)
    target = run / MODEL_DIR
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    chosen = next(r for r in history if r["layers"] == depth and r["epoch"] == epoch)
    summary = {
        "kind": "small transformer distilled on the teacher's soft labels", "fingerprint": fingerprint,
        "student": student_label(config.student), "layers": depth, "epoch": epoch,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "selection": {"rule": SELECTION_RULE, "split": "seeded hold-out of the pool (never evaluation labels)",
                      "train_rows": int(len(train_idx)), "holdout_rows": int(len(held_idx)),
                      "augmented_train_rows": 0 if extra is None else len(extra.frame), "history": history},
        "holdout_agreement": {k: chosen[k] for k in ("roc_auc_vs_teacher_hard", "mean_abs_diff", "hard_agreement")},
        "loss": LOSS_DESCRIPTIONS[config.loss],
        "soft_labels_file": paths.portable_path(labels.path.resolve()),
        "model_dir": paths.portable_path(target.resolve()),
        "model_sha256": sha256_file(target / "model.safetensors"),
        "device": device, "torch_threads": threads, "wall_s": round(time.perf_counter() - started, 1),
        "versions": software_versions(), "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json_atomic(run / SUMMARY_FILE, summary)
    return target, summary
