"""ONNX export of a fold ensemble as one graph: the served teacher.

Every member (a fine-tuned fold model; all of one architecture and one tokenizer) runs on the same tokens; the
graph returns ``log(mean_k softmax(logits_k))``, whose softmax is exactly the members' mean probability. So the
standard :class:`~ambig_lib.serving.predictor.Predictor` serves the ensemble unchanged (same inputs, same
two-logit output), and its answer is the fold ensemble's ``finetune.CVResult.predict_proba``. fp32 (fused by the
onnxruntime transformer optimizer) and int8 (dynamic quantisation), with ``export.json`` listing every member.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ambig_lib.core import paths
from ambig_lib.core.io import sha256_file
from ambig_lib.core.provenance import software_versions
from ambig_lib.serving.export import (
    ExportOptions,
    main_weights_sha,
    model_input_names,
    served_files,
    torch_export_onnx,
    write_export_meta,
    write_graphs,
)
from ambig_lib.serving.layout import DEFAULT_LABEL_NAMES, EXPORT_META, TOKENIZER_FILE, ServingError

#: Probability floor inside the graph's log (a member's softmax can underflow to 0 in float32).
PROBABILITY_FLOOR = 1e-12
#: What the graph's output is, as ``export.json`` says it.
ENSEMBLE_OUTPUT = "log of the mean member probability (softmax of the output = mean P)"


def _check_members(model_dirs: Sequence[Path]) -> None:
    if len(model_dirs) < 2:
        raise ServingError(f"An ensemble needs at least 2 member models, got {len(model_dirs)}. Fix: pass every "
                           "fold model directory of the runs (runs/<student>/<teacher set>/<seed>/fold_<k>).")
    tokenizers = set()
    for folder in model_dirs:
        if not (folder / "config.json").is_file():
            raise ServingError(f"{folder} holds no config.json. Fix: pass fold model directories written by "
                               "save_pretrained (train the runs first: ambig train).")
        if not (folder / TOKENIZER_FILE).is_file():
            raise ServingError(f"{folder} holds no {TOKENIZER_FILE}. Fix: save the fold's fast tokenizer.")
        tokenizers.add(sha256_file(folder / TOKENIZER_FILE))
    if len(tokenizers) != 1:
        raise ServingError("The member models use different tokenizers, so one graph cannot serve them. Fix: "
                           "ensemble fold models of one student only.")


def ensemble_module(models: Sequence[Any], input_names: Sequence[str]) -> Any:
    """``torch.nn.Module``: ``(input_ids, attention_mask[, token_type_ids]) -> log(mean member probability)``."""
    import torch

    class MeanProbability(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(models)

        def _mean(self, **inputs: Any) -> Any:
            probs = torch.stack([torch.softmax(m(**inputs).logits.float(), dim=-1) for m in self.members])
            return torch.log(probs.mean(dim=0).clamp_min(PROBABILITY_FLOOR))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self._mean(input_ids=input_ids, attention_mask=attention_mask)

    class MeanProbabilityWithTypes(MeanProbability):
        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:  # type: ignore[override]
            return self._mean(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)

    module = MeanProbabilityWithTypes() if "token_type_ids" in input_names else MeanProbability()
    return module.eval()


def export_ensemble_onnx(model_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                         options: ExportOptions | None = None, description: dict[str, Any] | None = None) -> Path:
    """Export the mean-probability ensemble of ``model_dirs`` to ``out_dir`` (fp32 + int8 ONNX, tokenizer,
    ``export.json`` with every member's path and SHA-256 plus ``description``). Returns ``out_dir``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ambig_lib.models.students import float32_kwargs

    options = options or ExportOptions(include_pytorch=False)
    members = [Path(d) for d in model_dirs]
    _check_members(members)
    tokenizer = AutoTokenizer.from_pretrained(members[0])
    models = [AutoModelForSequenceClassification.from_pretrained(d, **float32_kwargs(), attn_implementation="eager")
              .eval() for d in members]
    types = {m.config.model_type for m in models}
    if len(types) != 1 or any(m.config.num_labels != 2 for m in models):
        raise ServingError(f"Members of model types {sorted(types)} with labels "
                           f"{sorted({m.config.num_labels for m in models})}: an ensemble graph needs one "
                           "architecture and 2 labels.")
    input_names = model_input_names(models[0], tokenizer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "model.raw.onnx"
    weight_bytes = sum(p.numel() * p.element_size() for m in models for p in m.parameters())
    external = weight_bytes > options.external_data_bytes
    torch_export_onnx(ensemble_module(models, input_names), input_names, raw, options.opset, external)
    # one EmbedLayerNormalization per encoder would duplicate its input cast (see optimize_graph)
    fused = write_graphs(raw, out, models[0].config, tokenizer, options, embed_layer_norm=False, external=external)
    write_export_meta(
        out, options, kind="ensemble", model_type=models[0].config.model_type, ensemble=ENSEMBLE_OUTPUT,
        members=member_records(members), **(description or {}), label_names=list(DEFAULT_LABEL_NAMES),
        input_names=input_names, transformer_fusion=bool(fused))
    return out


def member_records(model_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Each member's repository-relative path and the SHA-256 of its weights (as ``export.json`` lists them)."""
    return [{"model": paths.portable_path(Path(d).resolve()), "sha256": main_weights_sha(Path(d))}
            for d in model_dirs]


def ensemble_export_stale_reason(model_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                                 options: ExportOptions | None = None,
                                 description: dict[str, Any] | None = None) -> str | None:
    """Why ``out_dir`` does not already hold this ensemble's export (None when it does and can be reused): the
    same members (weights' SHA-256), export options, description and software versions, and every served file
    still matching its recorded SHA-256. A 5-fold mpnet ensemble takes minutes to export; this keeps a re-run
    of 05 from paying that again."""
    options = options or ExportOptions(include_pytorch=False)
    meta_path = Path(out_dir) / EXPORT_META
    if not meta_path.is_file():
        return "no export yet"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return f"{EXPORT_META} is unreadable"
    expected = {"kind": "ensemble", "ensemble": ENSEMBLE_OUTPUT, "members": member_records([Path(d) for d in model_dirs]),
                "max_length": options.max_length, "opset": options.opset, "per_channel": options.per_channel,
                "reduce_range": options.reduce_range, "quantize_ops": list(options.quantize_ops),
                "versions": software_versions(), **json.loads(json.dumps(description or {}))}
    changed = [key for key, value in expected.items() if meta.get(key) != value]
    if changed:
        return f"changed since the last export: {', '.join(changed)}"
    files = meta.get("files") or {}
    if set(files) != set(served_files(Path(out_dir))):
        return "the served files differ from those recorded"
    for name, digest in files.items():
        if sha256_file(Path(out_dir) / name) != digest:
            return f"{name} differs from its recorded SHA-256"
    return None

