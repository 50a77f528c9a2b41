"""``evaluation.csv``: its one writer. 04 writes the rows rebuilt from prediction files; LLM-direct (05, the
``llm-direct`` command) merges its rows through ``merge_rows``; both re-render the Markdown and the
side-by-side with the published study from the CSV as written.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.io import write_text_atomic
from ambig_lib.core.markdown import to_markdown
from ambig_lib.evaluation.tables import compare_with_published, headline_markdown

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


#: Rows written by notebook 05 / ``ambig llm-direct`` (LLM-direct, through ``merge_rows``). 04 rebuilds the rest of ``evaluation.csv`` from
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


def merge_rows(rows: pd.DataFrame, path: Path | None = None) -> Path:
    """Replace the rows of ``evaluation.csv`` with the same ``ROW_KEY`` by ``rows`` (LLM-direct); atomic.

    ``evaluation.md`` and the side-by-side with the published numbers are re-rendered from the merged table.
    """
    path = Path(path) if path is not None else paths.tables_dir() / "evaluation.csv"
    table = read_evaluation_csv(path) if path.is_file() else pd.DataFrame()
    merged = pd.concat([rows_not_in(table, rows), rows], ignore_index=True)
    write_text_atomic(path, merged.to_csv(index=False, float_format=CSV_FLOAT_FORMAT))
    if "macro_f1_ci_low" in merged:
        render_tables(read_evaluation_csv(path), path.parent)
    return path
