"""The deployable tiers of knowledge distillation, each served by the standard predictor: the teacher ensemble in
one ONNX graph, the small transformer and the static student distilled on its soft labels of the transfer pool.

``build_tiers`` makes (or reuses) all three and checks every export against its reference on every benchmark query
(``serving_quality.csv`` rows); ``tier_table`` joins those rows with the latency study's into the table that says
which tier to use when (``results/tables/tiers.csv|md``), with each tier's ROC-AUC gap to the served ensemble and
the targets of the distillation issue.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.io import (
    sha256_bytes,
    sha256_file,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ambig_lib.core.markdown import to_markdown
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.benchmarks import TRANSFER_BENCHMARKS
from ambig_lib.data.pool import ensure_transfer_pool, provenance_path
from ambig_lib.models.students import student_label
from ambig_lib.runs import run_dir
from ambig_lib.serving.ensemble_export import (
    ensemble_export_stale_reason,
    export_ensemble_onnx,
    member_records,
)
from ambig_lib.serving.export import ExportOptions, export_onnx
from ambig_lib.serving.quality import quality_table, reference_quality_table, static_quality_table
from ambig_lib.serving.static_export import export_static_onnx, export_tuned_static_onnx
from ambig_lib.training.distillation import (
    DEFAULT_FOLDS,
    SoftLabels,
    agreement_rank,
    distilled_static_run_dir,
    ensemble_soft_labels,
    soft_labels,
    teacher_fold_dirs,
    train_distilled_static_student,
)
from ambig_lib.training.distilled_transformer import (
    LOSS_CHOICES,
    SmallTransformerConfig,
    recorded_distilled_transformer,
    train_distilled_transformer,
)
from ambig_lib.training.finetune import TrainConfig
from ambig_lib.training.static_student import StaticConfig
from ambig_lib.training.static_tuned import (
    TunedStaticConfig,
    train_tuned_static_student,
    tuned_static_run_dir,
)

TIERS: tuple[str, ...] = ("teacher_ensemble", "small_transformer", "static_distilled")
#: The issue's targets: ROC-AUC within this much of the served ensemble on every benchmark, and batch-1 p50.
ROC_AUC_MARGIN = {"small_transformer": 0.02, "static_distilled": 0.03}
P50_TARGET_MS = {"small_transformer": 2.0, "static_distilled": 0.5}
THROUGHPUT_TARGET_QPS = {"static_distilled": 10_000.0}
#: The small transformer's candidates: a loss (``distilled_transformer.LOSS_CHOICES``), ``+augmented`` adding
#: ``AUGMENTED_QUERIES`` augmented transfer queries (``+augmented<n>``: n of them); held-out pool agreement picks one.
SMALL_CANDIDATES: tuple[str, ...] = ("soft_ce", "logit_mse", "soft_ce+augmented", "soft_ce+augmented20000")
AUGMENTED_QUERIES = 10_000


def small_candidate_config(base: SmallTransformerConfig, name: str) -> SmallTransformerConfig:
    """``base`` with the loss and augmentation a candidate name says (``<loss>``, ``<loss>+augmented`` or
    ``<loss>+augmented<n>``)."""
    match = re.fullmatch(r"(\w+)(\+augmented([1-9][0-9]*)?)?", str(name))
    if match is None or match[1] not in LOSS_CHOICES:
        raise ValueError(f"Unknown small-transformer candidate {name!r}. Fix: <loss>, <loss>+augmented or "
                         f"<loss>+augmented<n>, the loss one of {', '.join(LOSS_CHOICES)}.")
    augmented = int(match[3]) if match[3] else AUGMENTED_QUERIES if match[2] else 0
    return replace(base, loss=match[1], augmented=augmented)
SERVED_VARIANT = "onnx_int8"
#: The PyTorch ensemble's probabilities of the benchmark queries, beside the ensemble's export.
REFERENCE_CACHE = "reference_probabilities.npy"


def ensemble_dir(student: str, teacher_set: str, seeds: Sequence[int]) -> Path:
    """``runs/<student>/<teacher set>/ensemble-<seeds>/export``: the served fold ensemble."""
    return run_dir(student, teacher_set, 0).parent / f"ensemble-{'-'.join(str(int(s)) for s in seeds)}" / "export"


@dataclass
class Tiers:
    """The exports of the tiers built, their quality rows and what their training chose."""

    labels: SoftLabels
    exports: dict[str, Path] = field(default_factory=dict)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_tiers(teacher_student: str, teacher_set: str, seeds: Sequence[int], tiers: Sequence[str] = TIERS,
                pool: str | Sequence[str] = "all", static_config: StaticConfig | None = None,
                small_config: SmallTransformerConfig | None = None, train_if_missing: bool = True,
                datasets: Sequence[str] = TRANSFER_BENCHMARKS, seed: int = 0, threads: int = 2,
                small_candidates: Sequence[str] = SMALL_CANDIDATES) -> Tiers:
    """Soft labels (cached), then each tier of ``tiers``: trained or reused, exported, checked against its
    reference on every query of ``datasets``. ``small_candidates``: the small transformer's candidates
    (``SMALL_CANDIDATES``), one run each; held-out pool agreement picks one."""
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        raise ValueError(f"Unknown tiers {unknown}; choose from {TIERS}.")
    _, pool_file, _ = ensure_transfer_pool(pool)
    labels = soft_labels(pool_file, teacher_student, teacher_set, seeds, DEFAULT_FOLDS,
                         train_if_missing=train_if_missing)
    result = Tiers(labels)
    frames = []
    if "teacher_ensemble" in tiers:
        folds = [folder for _, folder in teacher_fold_dirs(teacher_student, teacher_set, seeds, DEFAULT_FOLDS,
                                                           train_if_missing)]
        target = ensemble_dir(teacher_student, teacher_set, seeds)
        options = ExportOptions(include_pytorch=False, max_length=TrainConfig().max_length)
        description = {"teacher_set": teacher_set, "seeds": [int(s) for s in seeds]}
        stale = ensemble_export_stale_reason(folds, target, options, description)
        if stale is not None:
            export_ensemble_onnx(folds, target, options, description)

        def reference(queries: list[str]) -> np.ndarray:
            return cached_ensemble_reference(queries, folds, target, teacher_student, teacher_set, seeds)

        frames.append(reference_quality_table(reference, target, datasets, threads, "teacher_ensemble"))
        result.exports["teacher_ensemble"] = target
        result.notes["teacher_ensemble"] = {"members": len(folds), "student": student_label(teacher_student),
                                            "teacher_set": teacher_set, "seeds": [int(s) for s in seeds],
                                            "export": "reused (up to date)" if stale is None else
                                            f"exported ({stale})"}
    if "small_transformer" in tiers:
        model_dir, note = _small_tier(labels, small_config or SmallTransformerConfig(), small_candidates, seed,
                                      train_if_missing)
        target = export_onnx(model_dir, model_dir.parent / "export", ExportOptions(max_length=TrainConfig().max_length))
        frames.append(quality_table(target, datasets, threads=threads, system="small_transformer"))
        result.exports["small_transformer"] = target
        result.notes["small_transformer"] = note
    if "static_distilled" in tiers:
        target, rows, note = _static_tier(labels, pool_file, static_config or StaticConfig(), seed, datasets,
                                          threads)
        frames.append(rows)
        result.exports["static_distilled"] = target
        result.notes["static_distilled"] = note
    result.quality = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return result


def cached_ensemble_reference(queries: Sequence[str], folds: Sequence[Path], export: Path, teacher_student: str,
                              teacher_set: str, seeds: Sequence[int]) -> np.ndarray:
    """The PyTorch fold ensemble's P(ambiguous) of ``queries`` (the served ensemble's reference), cached beside
    the export and keyed by the members' weights and the queries; five mpnet folds over the benchmarks take
    minutes on a CPU, so a re-run of 05 reuses them while neither changed."""
    texts = [str(q) for q in queries]
    key = {"members": member_records(folds), "queries": len(texts),
           "queries_sha256": sha256_bytes("\n".join(texts).encode("utf-8"))}
    target = Path(export) / REFERENCE_CACHE
    recorded_path = provenance_path(target)
    if target.is_file() and recorded_path.is_file():
        recorded = json.loads(recorded_path.read_text(encoding="utf-8"))
        if recorded.get("key") == key and recorded.get("sha256") == sha256_file(target):
            values = np.load(target, allow_pickle=False)
            if values.shape == (len(texts),):
                return values
    values = np.asarray(ensemble_soft_labels(texts, teacher_student, teacher_set, seeds, progress=False),
                        dtype=np.float64)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    write_bytes_atomic(target, buffer.getvalue())
    write_json_atomic(recorded_path, {"key": key, "sha256": sha256_file(target), "versions": software_versions()})
    return values


def _agreement_auc(agreement: dict[str, Any]) -> float | None:
    """ROC-AUC of a student's held-out pool scores against the teacher's hard labels (rounded for display)."""
    auc = agreement.get("roc_auc_vs_teacher_hard")
    return None if auc is None else round(float(auc), 4)


def _small_tier(labels: SoftLabels, config: SmallTransformerConfig, candidates: Sequence[str], seed: int,
                train_if_missing: bool) -> tuple[Path, dict[str, Any]]:
    """The small transformer whose chosen (depth, epoch) agrees best with the teacher on the held-out pool split.

    Best first: a candidate is trained (or reused) unless a recorded run of its recipe
    (``recorded_distilled_transformer``) already agrees less than the best one trained here, so a fresh clone,
    whose weights are missing, retrains the served candidate and only those that could still beat it. A
    candidate never recorded is always trained. Returns the model directory and the note."""
    if not candidates:
        raise ValueError(f"No small-transformer candidate. Fix: name at least one of {', '.join(SMALL_CANDIDATES)}.")
    configs = {name: small_candidate_config(config, name) for name in dict.fromkeys(candidates)}
    recorded = {name: recorded_distilled_transformer(labels, candidate, seed, train_if_missing)
                for name, candidate in configs.items()}

    def recorded_rank(name: str) -> tuple[float, float]:
        summary = recorded[name]
        return (math.inf, math.inf) if summary is None else agreement_rank(summary["holdout_agreement"])

    runs: dict[str, tuple[Path, dict[str, Any]]] = {}
    while True:
        best = max((agreement_rank(run[1]["holdout_agreement"]) for run in runs.values()), default=None)
        pending = [name for name in configs if name not in runs and (best is None or recorded_rank(name) > best)]
        if not pending:
            break
        name = max(pending, key=recorded_rank)
        runs[name] = train_distilled_transformer(labels, configs[name], seed, train_if_missing=train_if_missing)
    chosen = max(runs, key=lambda name: agreement_rank(runs[name][1]["holdout_agreement"]))
    model_dir, summary = runs[chosen]
    agreements = {}
    for name in configs:
        if name in runs:
            agreements[f"agreement ({name})"] = _agreement_auc(runs[name][1]["holdout_agreement"])
        else:
            auc = _agreement_auc(recorded[name]["holdout_agreement"])  # type: ignore[index]
            agreements[f"agreement ({name})"] = f"{auc} (recorded run; not retrained, it cannot win)"
    return model_dir, {"chosen": chosen, "layers": summary["layers"], "epoch": summary["epoch"],
                       "parameters": summary["parameters"], **agreements}


def _static_tier(labels: SoftLabels, pool_file: Path, config: StaticConfig, seed: int, datasets: Sequence[str],
                 threads: int) -> tuple[Path, pd.DataFrame, dict[str, Any]]:
    """Every static recipe on the soft labels (the logistic head on the fixed vectors; the tuned vectors with an
    MLP head, without and with the query's length as one more input); the one that agrees best with the teacher
    on the held-out pool split is exported and checked."""
    logistic = train_distilled_static_student(labels, pool_file, config, seed)
    tuned = {name: (tuned_config, train_tuned_static_student(labels, tuned_config, seed))
             for name, tuned_config in (("tuned vectors + MLP head", TunedStaticConfig(static=config)),
                                        ("tuned vectors + length + MLP head",
                                         TunedStaticConfig(static=config, length_feature=True)))}
    agreements = {"logistic head": logistic.summary["holdout_agreement"],
                  **{name: student.summary["holdout_agreement"] for name, (_, student) in tuned.items()}}
    chosen = max(agreements, key=lambda name: agreement_rank(agreements[name]))
    note = {"chosen": chosen, **{f"agreement ({name})": _agreement_auc(agreement)
                                  for name, agreement in agreements.items()}}
    if chosen == "logistic head":
        run = distilled_static_run_dir(labels.teacher["student"], labels.teacher["teacher_set"], seed, config)
        target = export_static_onnx(logistic, run / "export")
        return target, static_quality_table(logistic, target, datasets, threads, "static_distilled"), note
    tuned_config, student = tuned[chosen]
    run = tuned_static_run_dir(labels.teacher["student"], labels.teacher["teacher_set"], seed, tuned_config)
    target = export_tuned_static_onnx(student, run / "export")
    rows = reference_quality_table(student.predict_proba, target, datasets, threads, "static_distilled")
    return target, rows, {**note, "epoch": student.summary["epoch"]}


def tier_table(latency: pd.DataFrame, quality: pd.DataFrame, threads: int = 1,
               datasets: Sequence[str] = TRANSFER_BENCHMARKS) -> pd.DataFrame:
    """One row per served system (int8 students at ``threads``, LLM-direct modes): batch-1 p50, best throughput,
    ROC-AUC per benchmark, the gap to the served ensemble and whether the distillation targets are met."""
    rows: list[dict[str, Any]] = []
    b1 = latency[latency["batch_size"] == 1]
    for (system, variant), part in b1.groupby(["system", "variant"], sort=False):
        if system != "llm_direct" and (variant != SERVED_VARIANT or not (part["threads"] == threads).any()):
            continue
        timing = part[part["threads"] == threads] if system != "llm_direct" else part
        every = latency[(latency["system"] == system) & (latency["variant"] == variant)
                        & latency["threads"].isin(timing["threads"])]
        row: dict[str, Any] = {"system": system, "variant": variant, "threads": int(timing["threads"].iloc[0]),
                               "p50_ms": float(timing["p50_ms"].iloc[0]),
                               "throughput_qps": float(every["throughput_qps"].max())}
        for dataset in datasets:
            hit = quality[(quality["system"] == system) & (quality["variant"] == variant)
                          & (quality["dataset"] == dataset)]
            row[f"roc_auc_{dataset}"] = float(hit["roc_auc"].iloc[0]) if len(hit) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    teacher = table[table["system"] == "teacher_ensemble"]
    for dataset in datasets:
        column = f"roc_auc_{dataset}"
        table[f"gap_{dataset}"] = table[column] - (float(teacher[column].iloc[0]) if len(teacher) else np.nan)
    table["meets_targets"] = [_meets(row, datasets) for _, row in table.iterrows()]
    return table


def _meets(row: pd.Series, datasets: Sequence[str]) -> bool | None:
    system = row["system"]
    if system not in ROC_AUC_MARGIN:
        return None
    gaps = [row[f"gap_{d}"] for d in datasets]
    if any(pd.isna(g) for g in gaps):
        return None
    return bool(all(g >= -ROC_AUC_MARGIN[system] for g in gaps) and row["p50_ms"] <= P50_TARGET_MS[system]
                and row["throughput_qps"] >= THROUGHPUT_TARGET_QPS.get(system, 0.0))


def write_tier_table(table: pd.DataFrame, out_dir: Path | None = None) -> Path:
    """``tiers.csv`` and ``tiers.md`` under ``results/tables``."""
    out = Path(out_dir) if out_dir is not None else paths.tables_dir()
    write_text_atomic(out / "tiers.csv", table.to_csv(index=False, float_format="%.4f"))
    write_text_atomic(out / "tiers.md", to_markdown(table.round(4)) + "\n")
    return out / "tiers.csv"
