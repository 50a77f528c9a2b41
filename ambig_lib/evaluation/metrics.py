"""Metrics, bootstrap intervals and the results tables (``evaluation.csv``, Markdown, side-by-side).

Every number here is computed from prediction TSVs (``initial_request, binary_label, prediction,
probability``) written by training runs and baselines; this module trains nothing. Label 1 = ambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    classification_report,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import write_text_atomic

METHODS = ("finetuned", "constant_all_ambiguous", "length_only", "tfidf_lr", "zero_shot_prototype",
           "supervised_ceiling")
TABLE_COLUMNS = ["method", "student", "teacher", "dataset", "seeds", "n", "weighted_precision", "weighted_recall",
                 "weighted_f1", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high", "balanced_accuracy", "roc_auc",
                 "roc_auc_ci_low", "roc_auc_ci_high", "pr_auc", "predicted_ambiguous_rate", "accuracy",
                 "macro_f1_std", "roc_auc_std", "weighted_f1_std", "notes"]
CLASS_NAMES = ("clear", "ambiguous")
#: Our offline stand-ins next to the published students (same vocabulary/depth; same size).
PUBLISHED_STUDENT = {"minilm": "distilbert-base-uncased", "distilbert": "distilbert-base-uncased",
                     "mpnet": "roberta-base", "roberta": "roberta-base"}


class EvaluationError(AmbigError):
    """Predictions are missing or do not match the evaluation set."""


# ------------------------------------------------------------------------------------------ metrics


def _check_inputs(y_true: Sequence[int], probability: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=float)
    if y.ndim != 1 or y.shape != p.shape:
        raise EvaluationError(f"Labels {y.shape} and probabilities {p.shape} must be equal-length 1-D arrays.")
    if len(y) == 0:
        raise EvaluationError("No examples to evaluate.")
    if not np.isin(y, (0, 1)).all():
        raise EvaluationError("Labels must be 0 (clear) or 1 (ambiguous).")
    if np.isnan(p).any():
        raise EvaluationError("Probabilities contain NaN.")
    return y, p


def binary_metrics(y_true: Sequence[int], probability: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Weighted P/R/F1, macro-F1, balanced accuracy, ROC-AUC, PR-AUC, rate of "ambiguous", per-class report.

    ``prediction = probability >= threshold``. AUCs are NaN when ``y_true`` has a single class.
    """
    y, p = _check_inputs(y_true, probability)
    pred = (p >= threshold).astype(int)
    wp, wr, wf, _ = precision_recall_fscore_support(y, pred, labels=[0, 1], average="weighted", zero_division=0)
    both = len(np.unique(y)) == 2
    report = classification_report(y, pred, labels=[0, 1], target_names=list(CLASS_NAMES), output_dict=True,
                                   zero_division=0)
    return {
        "n": int(len(y)), "weighted_precision": float(wp), "weighted_recall": float(wr), "weighted_f1": float(wf),
        "macro_f1": float(f1_score(y, pred, labels=[0, 1], average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else math.nan,
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "predicted_ambiguous_rate": float(pred.mean()), "accuracy": float(accuracy_score(y, pred)),
        "per_class": {name: report[name] for name in CLASS_NAMES},
    }


def length_controlled_roc_auc(texts: Sequence[str], y_true: Sequence[int], score: Sequence[float]
                              ) -> dict[str, float]:
    """ROC-AUC within bins of equal word count, averaged with weights ``n_clear * n_ambiguous`` per bin.

    This is the probability that a random ambiguous query outscores a random clear one *of the same length*:
    a score that only measures length gets 0.5. ``coverage`` is the share of queries in bins holding both
    classes (the rest cannot be compared at equal length). ``auc`` is NaN when no bin holds both classes.
    """
    y, p = _check_inputs(y_true, score)
    words = np.array([len(str(t).split()) for t in texts])
    if len(words) != len(y):
        raise EvaluationError(f"{len(words)} texts but {len(y)} labels.")
    total_weight, weighted, covered = 0.0, 0.0, 0
    for length in np.unique(words):
        in_bin = words == length
        n1 = int(y[in_bin].sum())
        n0 = int(in_bin.sum()) - n1
        if n1 == 0 or n0 == 0:
            continue
        weight = float(n1 * n0)
        weighted += weight * float(roc_auc_score(y[in_bin], p[in_bin]))
        total_weight += weight
        covered += int(in_bin.sum())
    auc = weighted / total_weight if total_weight else math.nan
    return {"auc": auc, "coverage": covered / len(y)}


def macro_f1_resampled(y: np.ndarray, pred: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Macro-F1 (labels 0 and 1, zero_division=0) of each row of resample indices ``index`` (B x n)."""
    yt = y[index].astype(bool)
    yp = pred[index].astype(bool)
    scores = []
    for truth, guess in ((yt, yp), (~yt, ~yp)):
        tp = (truth & guess).sum(axis=1)
        fp = (~truth & guess).sum(axis=1)
        fn = (truth & ~guess).sum(axis=1)
        denom = 2 * tp + fp + fn
        scores.append(np.divide(2 * tp, denom, out=np.zeros(len(index)), where=denom > 0))
    return (scores[0] + scores[1]) / 2


def roc_auc_resampled(y: np.ndarray, score: np.ndarray, index: np.ndarray) -> np.ndarray:
    """ROC-AUC (Mann-Whitney, ties averaged) of each resample; NaN where a resample has one class."""
    yt = y[index].astype(bool)
    ranks = rankdata(score[index], axis=1)
    n1 = yt.sum(axis=1).astype(float)
    n0 = yt.shape[1] - n1
    rank_sum = np.where(yt, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    auc[(n1 == 0) | (n0 == 0)] = np.nan
    return auc


def bootstrap_ci(y_true: Sequence[int], probabilities: Sequence[Sequence[float]] | np.ndarray, metric: str,
                 n_resamples: int = 1000, seed: int = 0, level: float = 0.95, threshold: float = 0.5
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` (``macro_f1`` or ``roc_auc``) over examples (seeded).

    ``probabilities`` is one array or several (one per training seed, same examples); each resample draws
    the same examples for every seed and scores the mean of the seeds' metric.
    """
    y = np.asarray(y_true, dtype=int)
    probs = np.atleast_2d(np.asarray(probabilities, dtype=float))
    for row in probs:
        _check_inputs(y, row)
    if n_resamples < 1:
        raise EvaluationError("n_resamples must be at least 1.")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(n_resamples, len(y)))
    if metric == "macro_f1":
        stats = np.mean([macro_f1_resampled(y, (row >= threshold).astype(int), index) for row in probs], axis=0)
    elif metric == "roc_auc":
        stats = np.mean([roc_auc_resampled(y, row, index) for row in probs], axis=0)
    else:
        raise EvaluationError(f"Unknown metric {metric!r} for bootstrap; use 'macro_f1' or 'roc_auc'.")
    if np.isnan(stats).all():
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.nanpercentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def evaluate_probabilities(y_true: Sequence[int], probabilities: Sequence[Sequence[float]], n_resamples: int = 1000,
                           seed: int = 0) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Seed-mean metrics, their std over seeds, bootstrap CIs of macro-F1 and ROC-AUC; plus mean per-class report."""
    per_seed = [binary_metrics(y_true, p) for p in probabilities]
    if not per_seed:
        raise EvaluationError("No predictions to evaluate.")
    keys = [k for k in per_seed[0] if k != "per_class"]
    row: dict[str, Any] = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
    row["n"] = per_seed[0]["n"]
    for k in ("macro_f1", "roc_auc", "weighted_f1"):
        values = [m[k] for m in per_seed]
        row[f"{k}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    for metric in ("macro_f1", "roc_auc"):
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = bootstrap_ci(y_true, probabilities, metric,
                                                                         n_resamples, seed)
    per_class = {name: {k: float(np.mean([m["per_class"][name][k] for m in per_seed]))
                        for k in ("precision", "recall", "f1-score", "support")} for name in CLASS_NAMES}
    return row, per_class


# ------------------------------------------------------------------------------------- predictions


def baseline_dir(method: str, student: str = "", teacher: str = "") -> Path:
    """Where a baseline's prediction TSVs live (git-ignored, under ``runs/``)."""
    from ambig_lib.training.finetune import teacher_slug

    base = paths.runs_dir()
    if method in ("zero_shot_prototype",):
        return base / student / method
    if method in ("length_only", "tfidf_lr"):
        return base / "baselines" / method / teacher_slug(teacher)
    raise EvaluationError(f"No prediction directory for method {method!r}.")


def ceiling_teacher(dataset: str) -> str:
    """Run name of the supervised ceiling evaluated on ``dataset`` (``clariq_test`` or ``ambignq``)."""
    names = {"clariq_test": "ceiling/clariq", "ambignq": "ceiling/ambignq"}
    if dataset not in names:
        raise EvaluationError(f"No supervised ceiling for {dataset!r}; ceilings exist for {sorted(names)}.")
    return names[dataset]


def load_aligned_predictions(path: Path, reference: pd.DataFrame) -> np.ndarray:
    """Probabilities from a predictions TSV, checked row by row against the evaluation set."""
    from ambig_lib.training.finetune import read_predictions

    frame = read_predictions(path)
    same = (len(frame) == len(reference)
            and (frame["initial_request"].astype(str).to_numpy() == reference["initial_request"].astype(str).to_numpy()).all()
            and (frame["binary_label"].astype(int).to_numpy() == reference["binary_label"].astype(int).to_numpy()).all())
    if not same:
        raise EvaluationError(f"{path} does not match the evaluation set ({len(frame)} vs {len(reference)} rows or "
                              "different texts/labels). Fix: delete the run and predict again.")
    return frame["probability"].astype(float).to_numpy()


def _row(method: str, student: str, teacher: str, dataset: str, seeds: Iterable[int | str], y: np.ndarray,
         probabilities: list[np.ndarray], n_resamples: int, notes: str = "", teacher_set: str = ""
         ) -> tuple[dict[str, Any], list[dict]]:
    metrics, per_class = evaluate_probabilities(y, probabilities, n_resamples)
    key = {"method": method, "student": student, "teacher": teacher, "dataset": dataset,
           "seeds": ";".join(str(s) for s in seeds)}
    row = {**key, **metrics, "notes": notes, "teacher_set": teacher_set}
    classes = [{**key, "class": name, **values} for name, values in per_class.items()]
    return row, classes


def evaluation_table(students: Sequence[str], teachers: Sequence[str], seeds: Sequence[int],
                     datasets: Sequence[str] = ("clariq", "ambignq", "clariq_test"), n_resamples: int = 1000,
                     ceiling_seeds: Sequence[int] | None = None, static_bases: Sequence[str] = (),
                     require_runs: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method with predictions on disk, as ``(table, per_class)``.

    Each requested fine-tuned run (``students`` x ``teachers`` x ``seeds``) must have its predictions on every
    dataset: with ``require_runs`` a missing one is an :class:`EvaluationError` naming it and the command that
    trains it (a typo such as ``minlm`` or an untrained seed never yields a table without those rows). Baselines,
    static students and ceilings are optional and enter the table when their predictions exist.
    ``static_bases``: encoders whose static student (``static_student``, seed 0) enters the table per teacher set.
    """
    if require_runs:
        check_runs_exist(students, teachers, seeds, datasets)
    from ambig_lib.data.benchmarks import load_eval_set
    from ambig_lib.data.teacher_sets import teacher_label
    from ambig_lib.training.baselines import AMBIGNQ_CEILING_NOTE
    from ambig_lib.training.finetune import run_dir
    from ambig_lib.training.static_student import StaticConfig, static_label, static_run_dir

    rows: list[dict[str, Any]] = []
    classes: list[dict[str, Any]] = []

    def add(result: tuple[dict[str, Any], list[dict]]) -> None:
        rows.append(result[0])
        classes.extend(result[1])

    for dataset in datasets:
        ref = load_eval_set(dataset)
        y = ref["binary_label"].astype(int).to_numpy()
        add(_row("constant_all_ambiguous", "", "", dataset, [], y, [np.ones(len(y))], n_resamples))
        for teacher in teachers:
            for method in ("length_only", "tfidf_lr"):
                path = baseline_dir(method, teacher=teacher) / f"predictions_{dataset}.tsv"
                if path.is_file():
                    add(_row(method, "", teacher_label(teacher), dataset, [0], y,
                             [load_aligned_predictions(path, ref)], n_resamples, teacher_set=teacher))
        for base in static_bases:
            static = StaticConfig(base=base)
            for teacher in teachers:
                path = static_run_dir(teacher, 0, static) / f"predictions_{dataset}.tsv"
                if path.is_file():
                    add(_row("static_student", static_label(static), teacher_label(teacher), dataset, [0], y,
                             [load_aligned_predictions(path, ref)], n_resamples, teacher_set=teacher))
        for student in students:
            path = baseline_dir("zero_shot_prototype", student=student) / f"predictions_{dataset}.tsv"
            if path.is_file():
                add(_row("zero_shot_prototype", student, "", dataset, [], y, [load_aligned_predictions(path, ref)],
                         n_resamples))
            for teacher in teachers:
                found = [(s, run_dir(student, teacher, s) / f"predictions_{dataset}.tsv") for s in seeds]
                found = [(s, p) for s, p in found if p.is_file()]
                if found:
                    add(_row("finetuned", student, teacher_label(teacher), dataset, [s for s, _ in found], y,
                             [load_aligned_predictions(p, ref) for _, p in found], n_resamples, teacher_set=teacher))
            if dataset in ("clariq_test", "ambignq"):
                teacher = ceiling_teacher(dataset)
                found = [(s, run_dir(student, teacher, s) / f"predictions_{dataset}.tsv")
                         for s in (ceiling_seeds if ceiling_seeds is not None else seeds)]
                found = [(s, p) for s, p in found if p.is_file()]
                if found:
                    note = ("trained on ClariQ train+dev" if dataset == "clariq_test" else AMBIGNQ_CEILING_NOTE)
                    add(_row("supervised_ceiling", student, "", dataset, [s for s, _ in found], y,
                             [load_aligned_predictions(p, ref) for _, p in found], n_resamples, note))
    table = pd.DataFrame(rows)
    table = table.reindex(columns=TABLE_COLUMNS + [c for c in table.columns if c not in TABLE_COLUMNS])
    return table, pd.DataFrame(classes)


def missing_runs(students: Sequence[str], teachers: Sequence[str], seeds: Sequence[int],
                 datasets: Sequence[str]) -> list[tuple[str, str, int, list[str]]]:
    """``(student, teacher, seed, datasets without predictions)`` for every requested run that is incomplete."""
    missing = []
    for student in students:
        for teacher in teachers:
            for seed in seeds:
                folder = run_dir_of(student, teacher, seed)
                absent = [d for d in datasets if not (folder / f"predictions_{d}.tsv").is_file()]
                if absent:
                    missing.append((student, teacher, int(seed), absent))
    return missing


def check_runs_exist(students: Sequence[str], teachers: Sequence[str], seeds: Sequence[int],
                     datasets: Sequence[str]) -> None:
    """Raise :class:`EvaluationError` naming each requested run without predictions and the command to train it."""
    missing = missing_runs(students, teachers, seeds, datasets)
    if not missing:
        return
    shown = "; ".join(f"{s} / {t} / seed {seed} (no predictions for {', '.join(d)} under "
                      f"{_relative(run_dir_of(s, t, seed))})" for s, t, seed, d in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    students_ = " ".join(dict.fromkeys(s for s, _, _, _ in missing))
    teachers_ = " ".join(dict.fromkeys(t for _, t, _, _ in missing))
    seeds_ = " ".join(dict.fromkeys(str(seed) for _, _, seed, _ in missing))
    raise EvaluationError(
        f"{len(missing)} requested training run(s) have no predictions: {shown}{more}. Fix: train them with "
        f"python -m ambig_lib.training.grid --students {students_} --teachers {teachers_} --seeds {seeds_} "
        f"--datasets {' '.join(datasets)} (or notebooks/03), or correct the student / teacher set / seed names.")


def run_dir_of(student: str, teacher: str, seed: int) -> Path:
    """``training.run_dir`` (imported lazily: training pulls in torch)."""
    from ambig_lib.training.finetune import run_dir

    return run_dir(student, teacher, seed)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def roc_sources(table: pd.DataFrame, dataset: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``label -> (y, probability)`` for ROC plots: each student's best fine-tuned run (highest mean ROC-AUC;
    its first seed) against the baselines of the same teacher, the zero-shot baseline and the ceiling."""
    from ambig_lib.data.benchmarks import load_eval_set
    from ambig_lib.training.finetune import run_dir

    ref = load_eval_set(dataset)
    y = ref["binary_label"].astype(int).to_numpy()
    sub = table[table["dataset"] == dataset]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    tuned = sub[sub["method"] == "finetuned"].sort_values("roc_auc", ascending=False)
    best_teachers = []
    for student, group in tuned.groupby("student", sort=False):
        best = group.iloc[0]
        seed = str(best["seeds"]).split(";")[0]
        path = run_dir(student, best["teacher_set"], int(seed)) / f"predictions_{dataset}.tsv"
        curves[f"finetuned {student} / {best['teacher']} (seed {seed})"] = (y, load_aligned_predictions(path, ref))
        best_teachers.append(best["teacher_set"])
    for teacher in dict.fromkeys(best_teachers):
        for method in ("tfidf_lr", "length_only"):
            path = baseline_dir(method, teacher=teacher) / f"predictions_{dataset}.tsv"
            if path.is_file():
                curves[f"{method} / {teacher.split('/')[-1]}"] = (y, load_aligned_predictions(path, ref))
    for student in sub.loc[sub["method"] == "zero_shot_prototype", "student"].unique():
        path = baseline_dir("zero_shot_prototype", student=student) / f"predictions_{dataset}.tsv"
        curves[f"zero-shot prototype {student}"] = (y, load_aligned_predictions(path, ref))
    for _, row in sub[sub["method"] == "supervised_ceiling"].iterrows():
        seed = str(row["seeds"]).split(";")[0]
        path = run_dir(row["student"], ceiling_teacher(dataset), int(seed)) / f"predictions_{dataset}.tsv"
        curves[f"supervised ceiling {row['student']} (seed {seed})"] = (y, load_aligned_predictions(path, ref))
    return curves


def aggregate_seeds(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Mean and std over seeds of the per-run training numbers (synthetic-val F1, wall time, best epochs)."""
    rows = [{"student": s["student"], "teacher": s["teacher"], "seed": s["seed"],
             "mean_best_val_macro_f1": s["mean_best_val_macro_f1"], "wall_s": s["wall_s"],
             "mean_best_epoch": float(np.mean([f["best_epoch"] for f in s["folds"]]))} for s in summaries]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    return frame.groupby(["student", "teacher"]).agg(
        seeds=("seed", "count"), val_macro_f1_mean=("mean_best_val_macro_f1", "mean"),
        val_macro_f1_std=("mean_best_val_macro_f1", "std"), best_epoch_mean=("mean_best_epoch", "mean"),
        wall_s_mean=("wall_s", "mean"), wall_s_std=("wall_s", "std")).reset_index()


# ---------------------------------------------------------------------------------------- rendering


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return "" if value is None else str(value)


def to_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, digits).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def headline_markdown(table: pd.DataFrame) -> str:
    """Compact rendering: macro-F1 and ROC-AUC with their 95% intervals, per dataset."""
    def interval(row: Mapping[str, Any], metric: str) -> str:
        if pd.isna(row[metric]):
            return ""
        return f"{row[metric]:.3f} [{row[f'{metric}_ci_low']:.3f}, {row[f'{metric}_ci_high']:.3f}]"

    parts = []
    for dataset, group in table.groupby("dataset", sort=False):
        view = pd.DataFrame({
            "method": group["method"], "student": group["student"], "teacher": group["teacher"],
            "seeds": group["seeds"], "macro_f1 [95% CI]": [interval(r, "macro_f1") for _, r in group.iterrows()],
            "roc_auc [95% CI]": [interval(r, "roc_auc") for _, r in group.iterrows()],
            "weighted_f1": group["weighted_f1"], "predicted_ambiguous_rate": group["predicted_ambiguous_rate"],
            "notes": group["notes"].fillna(""),
        })
        parts.append(f"### {dataset} (n = {int(group['n'].iloc[0])})\n\n" + to_markdown(view))
    return "\n".join(parts)


def compare_with_published(table: pd.DataFrame, reference: Path | None = None,
                           metrics: Sequence[str] = ("weighted_precision", "weighted_recall", "weighted_f1",
                                                     "macro_f1")) -> pd.DataFrame:
    """Our numbers beside the published ones (``seed_reported_results.csv``): ours, theirs, difference."""
    reference = reference or paths.published_results_file()
    if not Path(reference).is_file():
        raise EvaluationError(f"Published results not found at {reference}. Fix: pass reference= an existing "
                              "CSV, or reinstall ambig_lib (the file ships in ambig_lib/resources/).")
    theirs = pd.read_csv(reference, dtype={"student": str, "teacher": str}, keep_default_na=False)
    ours = table[table["dataset"].isin(["clariq", "ambignq"])].copy()
    ours["published_student"] = ours["student"].map(lambda s: PUBLISHED_STUDENT.get(s, s) if s else "")
    kind_of = {"finetuned": "finetuned", "zero_shot_prototype": "zero_shot_prototype",
               "constant_all_ambiguous": "constant_all_ambiguous"}
    rows = []
    for _, row in ours.iterrows():
        kind = kind_of.get(row["method"], row["method"] if str(row["method"]).startswith("llm_direct") else None)
        if kind is None:
            continue
        match = theirs[(theirs["kind"] == kind) & (theirs["dataset"] == row["dataset"])
                       & (theirs["teacher"] == (row["teacher"] or ""))]
        if kind != "constant_all_ambiguous" and not kind.startswith("llm_direct"):
            match = match[match["student"] == row["published_student"]]
        if match.empty:
            continue
        ref_row = match.iloc[0]
        out = {"method": row["method"], "student": row["student"], "published_student": ref_row["student"],
               "teacher": row["teacher"], "dataset": row["dataset"], "seeds": row["seeds"]}
        for metric in metrics:
            mine, published = float(row[metric]), float(ref_row[metric])
            out[f"{metric}_ours"], out[f"{metric}_theirs"] = mine, published
            out[f"{metric}_diff"] = mine - published
        rows.append(out)
    return pd.DataFrame(rows)


#: Decimals of ``evaluation.csv``. The Markdown (3 decimals) is always rendered from the CSV as written, so 04
#: and 05's merge render identical tables; 6 decimals keep that rendering free of double rounding.
CSV_FLOAT_FORMAT = "%.6f"

#: Text columns of ``evaluation.csv`` (read back as strings, empty for "none").
TEXT_COLUMNS: tuple[str, ...] = ("method", "student", "teacher", "dataset", "seeds", "notes", "teacher_set", "score")


def read_evaluation_csv(path: Path) -> pd.DataFrame:
    """``evaluation.csv`` as written: text columns as strings ("" where empty), numbers as floats."""
    table = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    present = [c for c in TEXT_COLUMNS if c in table]
    table[present] = table[present].fillna("")
    return table


#: Rows written by notebook 05 / ``llm_direct_cli`` (LLM-direct). 04 rebuilds the rest of ``evaluation.csv`` from
#: prediction files and carries these over, so re-running 04 never drops them.
CARRIED_METHOD_PREFIX = "llm_direct"


#: What identifies a row of ``evaluation.csv`` when rows are replaced.
ROW_KEY: tuple[str, ...] = ("method", "student", "dataset")


def rows_not_in(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` whose ``ROW_KEY`` does not occur in ``other``."""
    if not len(frame) or not len(other):
        return frame
    key = list(ROW_KEY)
    present = set(map(tuple, other[key].fillna("").astype(str).to_numpy()))
    return frame[[tuple(k) not in present for k in frame[key].fillna("").astype(str).to_numpy()]]


def carry_over_rows(table: pd.DataFrame, previous: Path) -> pd.DataFrame:
    """``table`` plus the LLM-direct rows of the ``previous`` CSV that ``table`` does not replace."""
    if not previous.is_file():
        return table
    old = read_evaluation_csv(previous)
    if "method" not in old or not len(old):
        return table
    carried = rows_not_in(old[old["method"].str.startswith(CARRIED_METHOD_PREFIX)], table)
    return pd.concat([table, carried], ignore_index=True) if len(carried) else table


def write_tables(table: pd.DataFrame, per_class: pd.DataFrame, out_dir: Path | None = None,
                 reference: Path | None = None, carry_over: bool = True) -> dict[str, Path]:
    """Write ``evaluation.csv|.md``, ``evaluation_per_class.csv`` and ``evaluation_vs_published.csv|.md``.

    With ``carry_over`` the LLM-direct rows already in ``evaluation.csv`` are kept (see ``carry_over_rows``).
    """
    out_dir = Path(out_dir) if out_dir is not None else paths.tables_dir()
    csv = out_dir / "evaluation.csv"
    if carry_over:
        table = carry_over_rows(table, csv)
    write_text_atomic(csv, table.to_csv(index=False, float_format=CSV_FLOAT_FORMAT))
    per_class_path = out_dir / "evaluation_per_class.csv"
    write_text_atomic(per_class_path, per_class.to_csv(index=False, float_format="%.4f"))
    return {"csv": csv, "per_class": per_class_path, **render_tables(read_evaluation_csv(csv), out_dir, reference)}


def render_tables(table: pd.DataFrame, out_dir: Path | None = None, reference: Path | None = None
                  ) -> dict[str, Path]:
    """Render ``evaluation.md`` and ``evaluation_vs_published.csv|.md`` from the rows of ``evaluation.csv``."""
    out_dir = Path(out_dir) if out_dir is not None else paths.tables_dir()
    written = {"md": out_dir / "evaluation.md", "vs_published_csv": out_dir / "evaluation_vs_published.csv",
               "vs_published_md": out_dir / "evaluation_vs_published.md"}
    intro = ("# Evaluation\n\nMacro-F1 and ROC-AUC with 95% bootstrap intervals (1000 resamples over examples; "
             "for several seeds, of the seed-mean). Label 1 = ambiguous; prediction = probability >= 0.5. "
             "Full columns in `evaluation.csv`.\n\n")
    write_text_atomic(written["md"], intro + headline_markdown(table))
    side = compare_with_published(table, reference)
    write_text_atomic(written["vs_published_csv"], side.to_csv(index=False, float_format="%.4f"))
    note = ("# Ours vs the published study\n\nPublished numbers: `ambig_lib/resources/seed_reported_results.csv` "
            "(selected on the test sets; distilbert/roberta). Ours: minilm stands in for distilbert-base-uncased, "
            "mpnet for roberta-base, unless the paper profile trained those. diff = ours - theirs.\n\n")
    write_text_atomic(written["vs_published_md"], note + (to_markdown(side) if len(side) else "(no overlap)\n"))
    return written
