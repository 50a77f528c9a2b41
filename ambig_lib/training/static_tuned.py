"""The tuned static student: the static encoder's token vectors fine-tuned, with a small MLP head, on the teacher
ensemble's soft labels of the transfer pool (knowledge distillation into the fast tier).

The model is the static student's own computation (token lookup, mean over the query's tokens, L2 norm) followed
by ``Linear -> ReLU -> Linear``. The unit mean hides how long the query is; with ``length_feature`` the head also
reads log(1 + number of tokens), one more input; unlike the logistic head of :mod:`ambig_lib.training.distillation`, the token
vectors themselves are trained (initialised from the Model2Vec vectors; tokens absent from the pool keep theirs).
Loss: cross-entropy to the teacher's probability; Adam, seeded shuffles, on the pool's training split
(``distillation.holdout_split``); the epoch with the best agreement with the teacher on the held-out split
(``distillation.teacher_agreement``) is kept. No evaluation label is read.

Weights go to ``runs/static-tuned-<base>-from-<teacher student>/<teacher set>/<seed>/weights/`` (not committed),
the summary beside them (committed). ``serving.static_export.export_tuned_static_onnx`` exports it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_file, write_bytes_atomic, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import safe_name
from ambig_lib.models.students import set_torch_threads, student_label
from ambig_lib.runs import run_dir
from ambig_lib.training.distillation import (
    HOLDOUT_FRACTION,
    DistillationError,
    SoftLabels,
    agreement_rank,
    holdout_split,
    teacher_agreement,
)
from ambig_lib.training.static_student import (
    ENCODER_META,
    StaticConfig,
    distill_static_encoder,
    load_static_encoder,
)

SUMMARY_FILE = "tuned_summary.json"
WEIGHTS_DIR = "weights"
WEIGHTS_FILE = "model.npz"
SELECTION_RULE = ("epoch with the highest ROC-AUC of the student's held-out pool scores against the teacher's hard "
                  "labels (p >= 0.5); ties by the lower mean |p_student - p_teacher|, then the earlier epoch")


@dataclass(frozen=True)
class TunedStaticConfig:
    """How the tuned static student is trained."""

    static: StaticConfig = StaticConfig()
    hidden: int = 256
    epochs: int = 8
    length_feature: bool = False  # the head also reads log(1 + tokens)
    learning_rate: float = 1e-3
    batch_size: int = 64
    holdout_fraction: float = HOLDOUT_FRACTION
    torch_threads: int | None = None  # None: the free cores


def tuned_static_label(teacher_student: str, config: TunedStaticConfig = TunedStaticConfig()) -> str:
    """Run-directory name: ``static-tuned-<base>-from-<teacher student>``."""
    length = "-length" if config.length_feature else ""
    return f"static-tuned-{config.static.base_label()}{length}-from-{safe_name(student_label(teacher_student))}"


def tuned_static_run_dir(teacher_student: str, teacher_set: str, seed: int = 0,
                         config: TunedStaticConfig = TunedStaticConfig()) -> Path:
    return run_dir(tuned_static_label(teacher_student, config), teacher_set, seed)


class TunedStaticModel(torch.nn.Module):
    """Mean of (trainable) token vectors over the real tokens, unit length, then an MLP (which also reads
    log(1 + token count) with ``length_feature``); returns the logit."""

    def __init__(self, embedding: np.ndarray, hidden: int, unk_id: int | None = None,
                 length_feature: bool = False) -> None:
        super().__init__()
        self.embedding = torch.nn.Parameter(torch.tensor(np.asarray(embedding, dtype=np.float32)))
        self.length_feature = bool(length_feature)
        self.hidden = torch.nn.Linear(self.embedding.shape[1] + int(self.length_feature), hidden)
        self.out = torch.nn.Linear(hidden, 1)
        self.unk_id = -1 if unk_id is None else int(unk_id)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        weights = ((attention_mask > 0) & (input_ids != self.unk_id)).to(torch.float32).unsqueeze(-1)
        summed = (torch.nn.functional.embedding(input_ids, self.embedding) * weights).sum(dim=1)
        mean = summed / weights.sum(dim=1).clamp(min=1.0)
        features = mean / torch.linalg.vector_norm(mean, dim=1, keepdim=True).clamp(min=1e-12)
        if self.length_feature:
            tokens = (attention_mask > 0).to(torch.float32).sum(dim=1, keepdim=True)
            features = torch.cat([features, torch.log1p(tokens)], dim=1)
        return self.out(torch.relu(self.hidden(features))).squeeze(-1)


def pad_ids(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id rows padded with 0 to the longest, and their mask."""
    width = max(1, max((len(r) for r in rows), default=1))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for k, row in enumerate(rows):
        if row:
            ids[k, :len(row)] = torch.as_tensor(list(row), dtype=torch.long)
            mask[k, :len(row)] = 1
    return ids, mask


@dataclass
class TunedStaticStudent:
    """A trained tuned static student: its encoder (tokenizer, unk id), weights and summary."""

    encoder_dir: Path
    model: TunedStaticModel
    summary: dict[str, Any]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """P(ambiguous) per text."""
        rows = load_static_encoder(self.encoder_dir).tokenize([str(t) for t in texts])
        return _predict(self.model, rows, batch_size)


def _predict(model: TunedStaticModel, rows: Sequence[Sequence[int]], batch_size: int = 1024) -> np.ndarray:
    model.eval()
    out = np.empty(len(rows), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            ids, mask = pad_ids(rows[start:start + batch_size])
            out[start:start + len(ids)] = torch.sigmoid(model(ids, mask)).double().numpy()
    return out


def _fingerprint(labels: SoftLabels, config: TunedStaticConfig, seed: int, encoder_dir: Path) -> dict[str, Any]:
    fields = asdict(config)
    fields.pop("torch_threads")
    return json.loads(json.dumps({
        "teacher_set": labels.teacher["teacher_set"], "teacher_runs": labels.teacher, "seed": int(seed),
        "config": fields, "n_rows": len(labels.frame), "soft_labels_sha256": sha256_file(labels.path),
        "encoder_sha256": json.loads((encoder_dir / ENCODER_META).read_text(encoding="utf-8"))["weights_sha256"],
    }))


def _save(model: TunedStaticModel, target: Path) -> str:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    write_bytes_atomic(target, buffer.getvalue())
    return sha256_file(target)


def _load(target: Path, model: TunedStaticModel) -> TunedStaticModel:
    with np.load(target) as arrays:
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    return model.eval()


def train_tuned_static_student(labels: SoftLabels, config: TunedStaticConfig = TunedStaticConfig(), seed: int = 0,
                               force: bool = False, progress: bool = True) -> TunedStaticStudent:
    """Train (or reuse, while the fingerprint and weights are unchanged) the tuned static student."""
    teacher = labels.teacher
    run = tuned_static_run_dir(teacher["student"], teacher["teacher_set"], seed, config)
    encoder_dir = distill_static_encoder(config.static)
    encoder = load_static_encoder(encoder_dir)
    unk_id = getattr(encoder, "unk_token_id", None)
    fingerprint = _fingerprint(labels, config, seed, encoder_dir)
    weights = run / WEIGHTS_DIR / WEIGHTS_FILE
    summary_path = run / SUMMARY_FILE
    if not force and summary_path.is_file() and weights.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("fingerprint") == fingerprint and summary.get("weights_sha256") == sha256_file(weights):
            model = TunedStaticModel(encoder.embedding, config.hidden, unk_id, config.length_feature)
            return TunedStaticStudent(encoder_dir, _load(weights, model), summary)
    texts = labels.frame["query"].astype(str).tolist()
    targets = torch.tensor(labels.frame["p_ambiguous"].to_numpy(dtype=np.float64), dtype=torch.float32)
    train_idx, held_idx = holdout_split(len(texts), seed, config.holdout_fraction)
    rows = encoder.tokenize(texts)
    held_rows = [rows[i] for i in held_idx]
    threads = set_torch_threads(config.torch_threads)
    torch.manual_seed(seed)
    model = TunedStaticModel(encoder.embedding, config.hidden, unk_id, config.length_feature)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], int, dict[str, torch.Tensor]] | None = None
    started = time.perf_counter()
    for epoch in tqdm(range(1, config.epochs + 1), desc="tuned static student", disable=not progress):
        model.train()
        order = rng.permutation(train_idx)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            ids, mask = pad_ids([rows[i] for i in batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(ids, mask), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        scores = teacher_agreement(_predict(model, held_rows), labels.frame["p_ambiguous"].to_numpy()[held_idx])
        history.append({"epoch": epoch, "train_loss": total / len(order), **scores})
        tqdm.write(f"  epoch {epoch}: held-out agreement ROC-AUC {scores['roc_auc_vs_teacher_hard']}, "
                   f"mean |dp| {scores['mean_abs_diff']:.4f}", file=sys.stderr)  # progress, not a result
        key = agreement_rank(scores)
        if best is None or key > best[0]:
            best = (key, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
    if best is None:
        raise DistillationError("The tuned static student trained no epoch. Fix: epochs >= 1.")
    model.load_state_dict(best[2])
    chosen = history[best[1] - 1]
    summary = {
        "kind": "tuned static student (token vectors and MLP head trained on soft targets)",
        "fingerprint": fingerprint, "epoch": best[1],
        "selection": {"rule": SELECTION_RULE, "split": "seeded hold-out of the pool (never evaluation labels)",
                      "train_rows": int(len(train_idx)), "holdout_rows": int(len(held_idx)), "history": history},
        "holdout_agreement": {k: chosen[k] for k in ("roc_auc_vs_teacher_hard", "mean_abs_diff", "hard_agreement")},
        "encoder_dir": paths.portable_path(encoder_dir.resolve()),
        "soft_labels_file": paths.portable_path(labels.path.resolve()),
        "weights_sha256": _save(model, weights), "torch_threads": threads,
        "wall_s": round(time.perf_counter() - started, 1), "versions": software_versions(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json_atomic(summary_path, summary)
    return TunedStaticStudent(encoder_dir, model.eval(), summary)
