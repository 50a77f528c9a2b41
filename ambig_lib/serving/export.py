"""ONNX export of a fine-tuned student: fp32 (fused where onnxruntime knows the model type) and int8 dynamic
quantisation, with ``export.json`` (see :mod:`ambig_lib.serving.layout`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambig_lib.core import paths
from ambig_lib.core.io import atomic_path, chmod_like_new_file, sha256_file, write_json_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.serving.layout import (
    DEFAULT_LABEL_NAMES,
    EXPORT_META,
    EXTERNAL_DATA_SUFFIX,
    PYTORCH_DIR,
    TOKENIZER_FILE,
    VARIANT_FILES,
    ServingError,
)

#: Model types the onnxruntime transformer optimizer fuses (attention, layer norm, GELU).
_ORT_OPTIMIZER_TYPES = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "mpnet": "bert"}

@dataclass(frozen=True)
class ExportOptions:
    """How to export: ONNX opset, truncation length, graph fusion, quantisation granularity."""
    opset: int = 18
    max_length: int = 128
    optimize: bool = True
    per_channel: bool = True
    #: 7-bit weights. On CPUs without VNNI (AVX2 only, like this machine) 8-bit u8 x s8 products saturate in
    #: onnxruntime's kernels. Measured on the minilm GPT-4.1 fold-0 student, label agreement with PyTorch on
    #: ClariQ + AmbigNQ: 96.7% per-tensor, 98.7% per-channel, 99.1% per-channel + reduce_range.
    reduce_range: bool = True
    #: Ops whose weights become int8. Embedding lookups (Gather) stay fp32: quantising them cost label
    #: agreement with PyTorch (98.8% -> 99.3% on ClariQ + AmbigNQ without them) and no speed.
    quantize_ops: tuple[str, ...] = ("MatMul", "Attention")
    include_pytorch: bool = True
    #: Graphs whose weights exceed this many bytes keep them in ``<graph>.data`` beside the graph (external data):
    #: one protobuf cannot hold more than 2 GiB (an mpnet fold ensemble holds 2.2 GB in fp32).
    external_data_bytes: int = 1_500_000_000


def external_data_file(graph: Path) -> Path:
    """Where a graph saved with external data keeps its weights (``model.onnx`` -> ``model.onnx.data``)."""
    return graph.with_name(graph.name + EXTERNAL_DATA_SUFFIX)


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                options: ExportOptions | None = None) -> Path:
    """Export a sequence-classification checkpoint to ``out_dir`` (fp32 + int8 ONNX, tokenizer, provenance).

    ``model_dir`` is any directory ``AutoModelForSequenceClassification.from_pretrained`` accepts with a fast
    tokenizer beside it. Returns ``out_dir``. Files are written atomically; an existing export is replaced.
    """
    # torch and transformers (models.students imports torch) only when exporting: importing this module stays light
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ambig_lib.models.students import float32_kwargs

    options = options or ExportOptions()
    source = Path(model_dir)
    if not (source / "config.json").is_file():
        raise ServingError(f"{source} holds no config.json. Fix: pass a directory written by save_pretrained "
                           "(a run's model directory), not a run folder or a file.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ServingError(f"{source}: no fast tokenizer (tokenizer.json). Fix: save the tokenizer with "
                           "transformers >= 4 so tokenizer.json is written.")
    # eager attention: traceable, and the pattern the onnxruntime BERT fusion recognises
    model = AutoModelForSequenceClassification.from_pretrained(source, **float32_kwargs(),
                                                               attn_implementation="eager").eval()
    if model.config.num_labels != 2:
        raise ServingError(f"{source}: {model.config.num_labels} labels; the predictor serves binary models.")
    input_names = model_input_names(model, tokenizer)

    raw = out / "model.raw.onnx"
    _torch_export(model, input_names, raw, options.opset)
    fused = write_graphs(raw, out, model.config, tokenizer, options)
    if options.include_pytorch:
        target = out / PYTORCH_DIR
        if target.exists():
            shutil.rmtree(target)
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    id2label = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
    label_names = [id2label.get(i, DEFAULT_LABEL_NAMES[i]) for i in range(2)]
    if label_names == ["LABEL_0", "LABEL_1"]:
        label_names = list(DEFAULT_LABEL_NAMES)
    write_export_meta(out, options, source_model=paths.portable_path(source.resolve()), source_sha256=main_weights_sha(source),
                      model_type=model.config.model_type, label_names=label_names, input_names=input_names,
                      transformer_fusion=fused)
    return out


def write_graphs(raw: Path, out: Path, config: Any, tokenizer: Any, options: ExportOptions,
                 embed_layer_norm: bool = True, external: bool = False) -> bool:
    """From the raw torch export ``raw`` (removed afterwards): the fp32 graph (fused where onnxruntime knows the
    model type), its int8 quantisation and the fast tokenizer (no padding, truncation at ``max_length``), each
    written atomically to ``out``. With ``external`` (the raw export holds its weights in ``<raw>.data``) both
    graphs keep their weights in ``<graph>.data``. Returns whether the graph was fused."""
    try:
        with graph_path(out / VARIANT_FILES["fp32"], external) as tmp:
            fused = (optimize_graph(raw, tmp, config, embed_layer_norm, external) if options.optimize
                     else copy_graph(raw, tmp, external))
    finally:
        raw.unlink(missing_ok=True)
        external_data_file(raw).unlink(missing_ok=True)
    quantize_onnx(out / VARIANT_FILES["fp32"], out / VARIANT_FILES["int8"], options, external)
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.enable_truncation(options.max_length)
    with atomic_path(out / TOKENIZER_FILE) as tmp:
        backend.save(str(tmp))
    return fused


def write_export_meta(out: Path, options: ExportOptions, **fields: Any) -> dict[str, Any]:
    """Write ``export.json``: ``fields`` plus the export options, SHA-256 of every served file and versions."""
    meta = {
        **fields,
        "max_length": options.max_length,
        "opset": options.opset,
        "per_channel": options.per_channel,
        "reduce_range": options.reduce_range,
        "quantize_ops": list(options.quantize_ops),
        "files": {name: sha256_file(out / name) for name in served_files(out)},
        "sizes": {name: (out / name).stat().st_size for name in served_files(out)},
        "versions": software_versions(),
    }
    write_json_atomic(out / EXPORT_META, meta)
    return meta


def served_files(out: Path) -> list[str]:
    """Names of the served files of an export folder: both graphs, their external data where present, the
    tokenizer."""
    names = []
    for graph in VARIANT_FILES.values():
        names.append(graph)
        if external_data_file(out / graph).is_file():
            names.append(external_data_file(out / graph).name)
    return [*names, TOKENIZER_FILE]


def model_input_names(model: Any, tokenizer: Any) -> list[str]:
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and getattr(model.config, "type_vocab_size", 0) > 1:
        names.append("token_type_ids")
    return names


def _torch_export(model: Any, input_names: list[str], target: Path, opset: int) -> None:
    """Export a transformers classifier (``.logits`` of its output) with dynamic batch and sequence axes."""
    import torch

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    class _WrapperWithTypes(_Wrapper):
        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:  # type: ignore[override]
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    wrapper = (_WrapperWithTypes(model) if "token_type_ids" in input_names else _Wrapper(model)).eval()
    torch_export_onnx(wrapper, input_names, target, opset)


def torch_export_onnx(module: Any, input_names: list[str], target: Path, opset: int, external: bool = False) -> None:
    """torch.export-based ONNX export of ``module(*inputs) -> logits`` (in eval mode) with dynamic batch and
    sequence axes.

    The TorchScript exporter cannot trace the mask code of transformers 5 (``sdpa_mask`` indexes a traced
    shape); the dynamo exporter handles it and agrees with eager PyTorch to float precision.
    """
    import torch

    module = module.eval()  # a fresh wrapper module is in training mode; export the inference graph
    dummy = tuple(torch.zeros(2, 8, dtype=torch.long) if n == "token_type_ids" else torch.ones(2, 8, dtype=torch.long)
                  for n in input_names)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    with torch.inference_mode():
        torch.onnx.export(module, dummy, str(target), input_names=input_names, output_names=["logits"],
                          dynamic_shapes={n: {0: batch, 1: sequence} for n in input_names},
                          opset_version=opset, dynamo=True, external_data=external, verbose=False)


@contextmanager
def graph_path(target: Path, external: bool) -> Iterator[Path]:
    """A temporary path to write the graph ``target`` to, published only if the block succeeds.

    Without ``external`` it is :func:`atomic_path`. With it, the graph and its ``.data`` file are written in a
    staging folder under their final names (the graph records the data file's name), then the data file and
    last the graph are renamed into place.
    """
    if not external:
        with atomic_path(target) as tmp:
            yield tmp
        external_data_file(target).unlink(missing_ok=True)  # left by an earlier export that needed one
        return
    staging = target.parent / f".{target.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging / target.name
        for written in (staging / target.name, external_data_file(staging / target.name)):
            chmod_like_new_file(written)  # onnx writes its data file 0600; serve both like any other file
        os.replace(external_data_file(staging / target.name), external_data_file(target))
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def copy_graph(source: Path, target: Path, external: bool = False) -> bool:
    if external:
        import onnx

        onnx.save_model(onnx.load(str(source)), str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external_data_file(target).name)
    else:
        shutil.copyfile(source, target)
    return False


def optimize_graph(raw: Path, target: Path, config: Any, embed_layer_norm: bool = True,
                   external: bool = False) -> bool:
    """Fuse the graph with the onnxruntime transformer optimizer; plain copy when the type is unknown.

    ``embed_layer_norm=False`` leaves the embeddings unfused: a graph holding several encoders (an ensemble)
    would otherwise get one ``input_ids_int32`` cast per encoder, a duplicate name onnxruntime refuses to load.
    """
    model_type = _ORT_OPTIMIZER_TYPES.get(config.model_type)
    if model_type is None:
        return copy_graph(raw, target)
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fusion = FusionOptions(model_type)
    fusion.enable_embed_layer_norm = embed_layer_norm
    optimized = optimize_model(str(raw), model_type=model_type, num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size), opt_level=1, use_gpu=False,
                               optimization_options=fusion)
    optimized.save_model_to_file(str(target), use_external_data_format=external)
    return True


def quantize_onnx(fp32: Path, target: Path, options: ExportOptions, external: bool = False) -> None:
    """Dynamic int8 quantisation of ``options.quantize_ops`` (atomic write of ``target``; with ``external``, its
    weights in ``<target>.data``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with graph_path(target, external) as tmp:
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=options.per_channel,
                         reduce_range=options.reduce_range, op_types_to_quantize=list(options.quantize_ops),
                         use_external_data_format=external)


def main_weights_sha(source: Path) -> str | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (source / name).is_file():
            return sha256_file(source / name)
    return None
