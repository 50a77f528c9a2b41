"""The results tables built from prediction files: every method with predictions under ``runs/``, the ROC
sources, the side-by-side with the published numbers, and their Markdown rendering.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.markdown import to_markdown
from ambig_lib.data.benchmarks import EVAL_SETS, PUBLISHED_BENCHMARKS, load_eval_set
from ambig_lib.data.ceilings import CEILING_NOTES, ceiling_teacher
from ambig_lib.data.teacher_sets import teacher_label
from ambig_lib.evaluation.metrics import EvaluationError, evaluate_probabilities
from ambig_lib.runs import baseline_dir, read_predictions, run_dir
from ambig_lib.training.static_student import StaticConfig, static_label, static_run_dir

METHODS = ("finetuned", "constant_all_ambiguous", "length_only", "tfidf_lr", "zero_shot_prototype",
           "supervised_ceiling")


TABLE_COLUMNS = ["method", "student", "teacher", "dataset", "seeds", "n", "weighted_precision", "weighted_recall",
                 "weighted_f1", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high", "balanced_accuracy", "roc_auc",
                 "roc_auc_ci_low", "roc_auc_ci_high", "pr_auc", "predicted_ambiguous_rate", "accuracy",
                 "macro_f1_std", "roc_auc_std", "weighted_f1_std", "notes"]


#: Our offline stand-ins next to the published students (same vocabulary/depth; same size).
PUBLISHED_STUDENT = {"minilm": "distilbert-base-uncased", "distilbert": "distilbert-base-uncased",
                     "mpnet": "roberta-base", "roberta": "roberta-base"}


def load_aligned_predictions(path: Path, reference: pd.DataFrame) -> np.ndarray:
    """Probabilities from a predictions TSV, checked row by row against the evaluation set."""
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


#: Benchmarks that joined after most runs were trained: a run without predictions on one is left out of its rows
#: (the table's ``seeds`` column says which seeds are in), not an error. ``ambig train --datasets transfer``
#: backfills them from a run's saved fold models.
PARTIAL_EVAL_SETS = ("clamber",)


def evaluation_table(students: Sequence[str], teachers: Sequence[str], seeds: Sequence[int],
                     datasets: Sequence[str] = EVAL_SETS, n_resamples: int = 1000,
                     ceiling_seeds: Sequence[int] | None = None, static_bases: Sequence[str] = (),
                     require_runs: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method with predictions on disk, as ``(table, per_class)``.

    Each requested fine-tuned run (``students`` x ``teachers`` x ``seeds``) must have its predictions on every
    dataset but those of ``PARTIAL_EVAL_SETS`` (there a run enters with the seeds that predicted it): with ``require_runs`` a missing one is an :class:`EvaluationError` naming it and the command that
    trains it (a typo such as ``minlm`` or an untrained seed never yields a table without those rows). Baselines,
    static students and ceilings are optional and enter the table when their predictions exist.
    ``static_bases``: encoders whose static student (``static_student``, seed 0) enters the table per teacher set.
    """
    if require_runs:
        check_runs_exist(students, teachers, seeds, [d for d in datasets if d not in PARTIAL_EVAL_SETS])

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
                    add(_row("supervised_ceiling", student, "", dataset, [s for s, _ in found], y,
                             [load_aligned_predictions(p, ref) for _, p in found], n_resamples,
                             CEILING_NOTES[dataset]))
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
                folder = run_dir(student, teacher, seed)
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
                      f"{_relative(run_dir(s, t, seed))})" for s, t, seed, d in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    students_ = " ".join(dict.fromkeys(s for s, _, _, _ in missing))
    teachers_ = " ".join(dict.fromkeys(t for _, t, _, _ in missing))
    seeds_ = " ".join(dict.fromkeys(str(seed) for _, _, seed, _ in missing))
    raise EvaluationError(
        f"{len(missing)} requested training run(s) have no predictions: {shown}{more}. Fix: train them with "
        f"ambig train --students {students_} --teachers {teachers_} --seeds {seeds_} "
        f"--datasets {' '.join(datasets)} (or notebooks/03), or correct the student / teacher set / seed names.")


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def roc_sources(table: pd.DataFrame, dataset: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``label -> (y, probability)`` for ROC plots: each student's best fine-tuned run (highest mean ROC-AUC;
    its first seed) against the baselines of the same teacher, the zero-shot baseline and the ceiling."""
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
    ours = table[table["dataset"].isin(PUBLISHED_BENCHMARKS)].copy()
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
