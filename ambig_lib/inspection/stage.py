"""The 02_inspect_synthetic stage: load the teacher sets, build the table and figures, write them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.figures import save_figure
from ambig_lib.core.io import write_text_atomic
from ambig_lib.data.benchmarks import TRANSFER_BENCHMARKS, load_eval_set
from ambig_lib.data.teacher_sets import load_teacher_set, resolve_teacher_sets, teacher_label
from ambig_lib.inspection.plots import length_distribution_figure, shortcut_accuracy_figure
from ambig_lib.inspection.stats import inspection_table, length_long_format, wordpiece_token_counter
from ambig_lib.models.store import resolve_model


@dataclass
class InspectionResult:
    """What the stage produced: the table, the per-query lengths, and the files written."""

    table: pd.DataFrame
    lengths: pd.DataFrame
    files: list[Path]


def run_inspection(teacher_sets: str | list[str] = "all", tokenizer_model: str | None = "minilm",
                   seed: int = 0, folds: int = 5, write: bool = True) -> InspectionResult:
    """Inspect the chosen teacher sets and (by default) write table and figures under ``results/``."""
    names = resolve_teacher_sets(teacher_sets)
    sets = {name: (teacher_label(name), load_teacher_set(name)) for name in names}
    eval_sets = {name: load_eval_set(name)["initial_request"].tolist() for name in TRANSFER_BENCHMARKS}
    counter = wordpiece_token_counter(str(resolve_model(tokenizer_model))) if tokenizer_model else None
    table = inspection_table(sets, eval_sets, counter, seed=seed, folds=folds)
    lengths = length_long_format(sets, counter)
    files: list[Path] = []
    if write:
        tables, figures = paths.tables_dir(), paths.figures_dir()
        csv_path = tables / "inspect_synthetic.csv"
        write_text_atomic(csv_path, table.to_csv(index=False))
        md_path = tables / "inspect_synthetic.md"
        write_text_atomic(md_path, table.to_markdown(index=False) + "\n")
        files += [csv_path, md_path]
        files.append(save_figure(length_distribution_figure(lengths, "words"), figures / "inspect_length_words.png"))
        if "tokens" in lengths:
            files.append(save_figure(length_distribution_figure(lengths, "tokens"),
                                     figures / "inspect_length_tokens.png"))
        files.append(save_figure(shortcut_accuracy_figure(table), figures / "inspect_shortcut_accuracy.png"))
    return InspectionResult(table, lengths, files)


def summary_view(table: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader compares first: size, defects, mean words by label and the two shortcut scores."""
    columns = ["teacher", "rows", "topics_not_5_5", "exact_duplicates", "mean_words_specific",
               "mean_words_ambiguous", "length_only_cv_accuracy", "tfidf_cv_accuracy"]
    return table[[c for c in columns if c in table]].round(3)


def shortcut_figure(result: InspectionResult) -> Path:
    """The figure of the length shortcut (CV accuracy of length-only and TF-IDF models per set)."""
    return next(path for path in result.files if path.name == "inspect_shortcut_accuracy.png")


def length_figures(result: InspectionResult) -> list[Path]:
    """The length distributions (words, and tokens when a tokenizer was given)."""
    return [path for path in result.files if path.name.startswith("inspect_length")]
