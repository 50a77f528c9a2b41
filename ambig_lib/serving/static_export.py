"""Export a static student (``static_student.StaticStudent``) in the serving layout of ``serving.export_onnx``.

The ONNX graph computes what Model2Vec + the logistic head compute: token lookup, mean over the real tokens
(padding and the unknown token masked out), L2 normalisation, then ``logits = [0, w . x + b]`` so that the
predictor's two-class softmax gives the head's sigmoid. ``model.int8.onnx`` quantises the embedding table
(Gather, weights only: batch-independent) to int8 and keeps the small head in fp32; the tokenizer adds no special tokens, as in Model2Vec.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ambig_lib.core import paths
from ambig_lib.core.io import atomic_path
from ambig_lib.serving.export import ExportOptions, quantize_onnx, torch_export_onnx, write_export_meta
from ambig_lib.serving.layout import DEFAULT_LABEL_NAMES, TOKENIZER_FILE, VARIANT_FILES
from ambig_lib.training.static_student import (
    ENCODER_META,
    StaticConfig,
    StaticStudent,
    StaticStudentError,
    load_static_encoder,
    static_run_dir,
    train_static_student,
)
from ambig_lib.training.static_tuned import TunedStaticStudent

#: Ops quantised in the int8 variant: the embedding table is nearly all of the model. Gather is quantised
#: weights-only; the head (MatMul, 256 weights) stays fp32, since dynamic quantisation of a MatMul scales its
#: input per batch and a query's answer would then depend on its batch-mates.
STATIC_QUANTIZE_OPS: tuple[str, ...] = ("Gather",)


def _graph_module(embedding: np.ndarray, coef: np.ndarray, intercept: float, unk_id: int | None) -> Any:
    import torch

    class StaticClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Parameter(torch.from_numpy(embedding.astype(np.float32)), requires_grad=False)
            self.weight = torch.nn.Parameter(torch.from_numpy(coef.astype(np.float32)[:, None]), requires_grad=False)
            self.bias = torch.nn.Parameter(torch.tensor([float(intercept)], dtype=torch.float32), requires_grad=False)
            self.unk_id = -1 if unk_id is None else int(unk_id)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            mask = (attention_mask > 0) & (input_ids != self.unk_id)
            weights = mask.to(torch.float32).unsqueeze(-1)
            summed = (torch.nn.functional.embedding(input_ids, self.embedding) * weights).sum(dim=1)
            mean = summed / weights.sum(dim=1).clamp(min=1.0)
            unit = mean / torch.linalg.vector_norm(mean, dim=1, keepdim=True).clamp(min=1e-12)
            score = unit @ self.weight + self.bias
            return torch.cat([torch.zeros_like(score), score], dim=1)

    return StaticClassifier().eval()


def export_static_onnx(student: StaticStudent, out_dir: str | os.PathLike[str],
                       options: ExportOptions | None = None) -> Path:
    """Write ``model.onnx``, ``model.int8.onnx``, ``tokenizer.json`` and ``export.json`` to ``out_dir``."""
    options = options or ExportOptions(include_pytorch=False, quantize_ops=STATIC_QUANTIZE_OPS)
    encoder_dir = Path(student.encoder_dir)
    encoder = load_static_encoder(encoder_dir)
    embedding = np.asarray(encoder.embedding, dtype=np.float32)
    if embedding.ndim != 2 or embedding.shape[1] != student.coef.shape[0]:
        raise StaticStudentError(f"encoder {encoder_dir} has vectors of shape {embedding.shape}, the head "
                                 f"{student.coef.shape}. Fix: retrain the head on this encoder.")
    if getattr(encoder, "token_mapping", None) is not None or getattr(encoder, "weights", None) is not None:
        raise StaticStudentError(f"{encoder_dir} uses vocabulary quantisation, which the export does not cover. "
                                 "Fix: distil without vocabulary_quantization.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module = _graph_module(embedding, student.coef, student.intercept, encoder.unk_token_id)
    with atomic_path(out / VARIANT_FILES["fp32"]) as tmp:
        torch_export_onnx(module, ["input_ids", "attention_mask"], tmp, options.opset)
    quantize_onnx(out / VARIANT_FILES["fp32"], out / VARIANT_FILES["int8"], options)

    _write_static_tokenizer(encoder_dir, out, options)
    encoder_meta = json.loads((encoder_dir / ENCODER_META).read_text(encoding="utf-8"))
    write_export_meta(
        out, options, kind="static", source_model=paths.portable_path(encoder_dir.resolve()),
        source_sha256=encoder_meta.get("weights_sha256"), model_type="model2vec",
        head={"teacher": student.summary.get("teacher"), "seed": student.summary.get("seed"),
              "best_c": student.summary.get("best_c"), "head_sha256": student.summary.get("head_sha256")},
        label_names=list(DEFAULT_LABEL_NAMES), input_names=["input_ids", "attention_mask"], transformer_fusion=False)
    return out


def export_tuned_static_onnx(student: TunedStaticStudent, out_dir: str | os.PathLike[str],
                             options: ExportOptions | None = None) -> Path:
    """Export a tuned static student (``static_tuned``: trained token vectors + MLP head) in the same layout:
    ``logits = [0, score]``, the int8 variant quantising the token table only (weights only, batch-independent)."""
    import torch

    options = options or ExportOptions(include_pytorch=False, quantize_ops=STATIC_QUANTIZE_OPS)
    encoder_dir = Path(student.encoder_dir)

    class TwoLogits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            score = self.inner(input_ids, attention_mask).unsqueeze(-1)
            return torch.cat([torch.zeros_like(score), score], dim=1)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / VARIANT_FILES["fp32"]) as tmp:
        torch_export_onnx(TwoLogits(student.model.eval()), ["input_ids", "attention_mask"], tmp, options.opset)
    quantize_onnx(out / VARIANT_FILES["fp32"], out / VARIANT_FILES["int8"], options)
    _write_static_tokenizer(encoder_dir, out, options)
    write_export_meta(
        out, options, kind="static-tuned", source_model=paths.portable_path(encoder_dir.resolve()),
        source_sha256=student.summary.get("weights_sha256"), model_type="model2vec+mlp",
        head={"epoch": student.summary.get("epoch"), "weights_sha256": student.summary.get("weights_sha256")},
        label_names=list(DEFAULT_LABEL_NAMES), input_names=["input_ids", "attention_mask"], transformer_fusion=False)
    return out


def _write_static_tokenizer(encoder_dir: Path, out: Path, options: ExportOptions) -> None:
    """The encoder's tokenizer (no special tokens added, as in Model2Vec), truncation at ``max_length``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder_dir / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(options.max_length)
    with atomic_path(out / TOKENIZER_FILE) as tmp:
        tokenizer.save(str(tmp))


def train_and_export(teacher: str, seed: int = 0, config: StaticConfig | None = None,
                     out_dir: str | os.PathLike[str] | None = None) -> tuple[StaticStudent, Path]:
    """Distil (cached), train the head (cached) and export the static student of ``teacher`` / ``seed``.

    The export goes to ``runs/static-<base>/<teacher>/<seed>/export`` unless ``out_dir`` is given.
    """
    config = config or StaticConfig()
    student = train_static_student(teacher, seed, config)
    target = Path(out_dir) if out_dir is not None else static_run_dir(teacher, seed, config) / "export"
    return student, export_static_onnx(student, target)
