""""What we found": the closing paragraph of each study notebook, rendered from the numbers it computed.

Each function takes what its notebook computed and returns a :class:`Findings` (one paragraph, HTML with a
plain-text fallback). The sentences are templates here, never typed into a notebook, so they stay true when
the results change. The appendix index quotes the first sentence of each.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ambig_lib.core.text import word_count
from ambig_lib.data.benchmarks import PUBLISHED_BENCHMARKS
from ambig_lib.evaluation.transfer_choice import choose_student, target_misses
from ambig_lib.generation.strategies import LENGTH_RESAMPLED_STEM

if TYPE_CHECKING:  # the stage imports torch (the probe); findings only read its tables
    from ambig_lib.evaluation.stage import EvaluationResult, TransferResult

#: CSS class of the findings paragraph (the appendix index and checks find it by this class).
FINDINGS_CLASS = "ambig-findings"


@dataclass(frozen=True)
class Findings:
    """One paragraph of findings: sentences in Markdown-light (``**bold**`` and ``code`` only)."""

    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def summary(self) -> str:
        """The first sentence (the appendix index's one-line summary)."""
        return self.sentences[0] if self.sentences else ""

    def _repr_html_(self) -> str:
        return f'<div class="{FINDINGS_CLASS}"><p>{_inline_html(self.text)}</p></div>'

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _f(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def _ms(value: float) -> str:
    return f"{value:.3f} ms" if value < 1 else f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _range(values: Sequence[float], digits: int = 3) -> str:
    finite = [float(v) for v in values if not pd.isna(v)]
    if not finite:
        return "n/a"
    low, high = min(finite), max(finite)
    return _f(low, digits) if math.isclose(low, high) else f"{_f(low, digits)}-{_f(high, digits)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------------------------- 01


def generation_findings(results: Mapping[str, Any]) -> Findings:
    """01: per set, rows written from how many topics, and how much shorter the ambiguous queries are."""
    if not results:
        return Findings(("No set was generated.",))
    parts = []
    for stem, result in results.items():
        counts, frame = result.counts, result.frame
        words = frame["initial_request"].map(word_count)
        gap = words[frame["binary_label"] == 0].mean() - words[frame["binary_label"] == 1].mean()
        direction = "shorter" if gap >= 0 else "longer"
        parts.append(f"`{stem}`: {counts.get('rows_written', len(frame)):,} queries ({counts.get('label_0', 0)} "
                     f"specific / {counts.get('label_1', 0)} ambiguous) from {counts.get('topics_valid', '?')} "
                     f"of {counts.get('topics_requested', '?')} topics, the ambiguous queries "
                     f"{abs(gap):.2f} words {direction} than the specific ones on average")
    attempts = sum(int(r.counts.get("attempts", 0)) for r in results.values())
    failed = sum(int(r.counts.get("attempts_failed", 0)) for r in results.values())
    retries = (f"Of {attempts:,} teacher answers, {failed:,} failed validation and were re-sampled (each one is "
               "listed with its reason in the set's failures file)." if failed else
               f"All {attempts:,} teacher answers passed validation.")
    return Findings((f"The teacher wrote {_plural(len(results), 'set')}: " + "; ".join(parts) + ".", retries))


# --------------------------------------------------------------------------------------------- 02


def inspection_findings(table: pd.DataFrame) -> Findings:
    """02: how well the number of words alone separates the synthetic classes, per teacher set."""
    if table.empty:
        return Findings(("No teacher set was inspected.",))
    acc = table["length_only_cv_accuracy"].astype(float)
    strong = table[acc >= 0.75]
    best = table.loc[acc.idxmax()]
    worst = table.loc[acc.idxmin()]
    sentences = [
        f"The number of words alone separates specific from ambiguous queries with {_range(acc)} "
        f"cross-validated accuracy (chance 0.5) across {_plural(len(table), 'teacher set')}; "
        f"{len(strong)} of them reach at least 0.75, highest for {best['teacher']} ({_f(best['length_only_cv_accuracy'])}).",
        f"The lowest is {worst['teacher']} ({_f(worst['length_only_cv_accuracy'])}), where ambiguous queries "
        f"average {_f(worst['mean_words_ambiguous'], 2)} words against {_f(worst['mean_words_specific'], 2)} "
        "for specific ones.",
        f"TF-IDF n-grams alone reach {_range(table['tfidf_cv_accuracy'].astype(float))}: a student can score well "
        "on these sets from surface cues, so their held-out synthetic scores say little about ambiguity.",
    ]
    return Findings(tuple(sentences))


# --------------------------------------------------------------------------------------------- 03


def finetune_findings(runs: pd.DataFrame, by_seed: pd.DataFrame) -> Findings:
    """03: runs trained or reused, the selection metric's range and spread over seeds, training time."""
    if runs.empty:
        return Findings(("No run was selected.",))
    status = runs["status"].value_counts()
    status_text = ", ".join(f"{n} {name}" for name, n in status.items())
    val = runs["mean_best_val_macro_f1"].astype(float)
    sentences = [
        f"{_plural(len(runs), 'training run')} ({status_text}) over {runs['student'].nunique()} student(s) and "
        f"{runs['teacher'].nunique()} teacher set(s): their held-out synthetic macro-F1 is {_range(val)}.",
    ]
    if not by_seed.empty and "val_macro_f1_std" in by_seed and by_seed["val_macro_f1_std"].notna().any():
        sentences.append(f"Across seeds it varies by at most {_f(by_seed['val_macro_f1_std'].max())} (standard "
                         f"deviation); best epochs average {_range(by_seed['best_epoch_mean'], 1)}.")
    low = runs.loc[val.idxmin()]
    lowest = (f": the lowest is {low['student']} on {low['teacher']} ({_f(low['mean_best_val_macro_f1'])})"
              if len(runs) > 1 else "")
    sentences.append(f"That number only picks epochs{lowest}; quality on real queries is measured in 04.")
    return Findings(tuple(sentences))


# --------------------------------------------------------------------------------------------- 04

_CONTROLS = ("constant_all_ambiguous", "length_only", "tfidf_lr", "zero_shot_prototype")


def _best(rows: pd.DataFrame, metric: str) -> pd.Series | None:
    rows = rows[rows[metric].notna()]
    return None if rows.empty else rows.loc[rows[metric].astype(float).idxmax()]


_METHOD_LABELS = {"finetuned": "fine-tuned", "static_student": "", "length_only": "length-only LR",
                  "tfidf_lr": "TF-IDF LR", "zero_shot_prototype": "zero-shot prototype",
                  "constant_all_ambiguous": "constant 'all ambiguous'", "supervised_ceiling": "supervised ceiling"}


def _who(row: pd.Series) -> str:
    method = str(row["method"])
    parts = [_METHOD_LABELS.get(method, method.replace("_", " "))] if _METHOD_LABELS.get(method, method) else []
    for key in ("student", "teacher"):
        value = row.get(key)
        if isinstance(value, str) and value:
            parts.append(("on " if key == "teacher" else "") + value)
    return " ".join(parts)


def evaluation_findings(table: pd.DataFrame, datasets: Sequence[str] = PUBLISHED_BENCHMARKS) -> Findings:
    """04: per real dataset, the best synthetic-trained system against the best control, by ROC-AUC."""
    sentences = []
    for dataset in datasets:
        rows = table[table["dataset"] == dataset]
        trained = rows[rows["method"].isin(["finetuned", "static_student"])]
        controls = rows[rows["method"].isin(_CONTROLS)]
        best, control = _best(trained, "roc_auc"), _best(controls, "roc_auc")
        if best is None:
            continue
        n = int(best["n"]) if "n" in best and not pd.isna(best["n"]) else len(rows)
        above = int((trained["roc_auc_ci_low"].astype(float) > 0.5).sum()) if "roc_auc_ci_low" in trained else 0
        text = (f"On {dataset} (n = {n:,}) the best synthetic-trained system is {_who(best)} with ROC-AUC "
                f"{_f(best['roc_auc'])} [{_f(best.get('roc_auc_ci_low'))}, {_f(best.get('roc_auc_ci_high'))}] and "
                f"macro-F1 {_f(best['macro_f1'])}")
        if control is not None:
            text += f"; the best control, {_who(control)}, reaches {_f(control['roc_auc'])}"
        text += f"; {above} of {len(trained)} trained rows have a 95% interval above chance."
        sentences.append(text)
    if not sentences:
        return Findings(("No trained system was evaluated on the selected datasets.",))
    sentences.append("Read macro-F1 and ROC-AUC, not weighted F1: ClariQ is mostly ambiguous, so the constant "
                     "'all ambiguous' answer already scores weighted F1 "
                     f"{_f(_constant_weighted_f1(table))}.")
    return Findings(tuple(sentences))


def _constant_weighted_f1(table: pd.DataFrame) -> float:
    rows = table[(table["method"] == "constant_all_ambiguous") & (table["dataset"] == "clariq")]
    return float(rows["weighted_f1"].iloc[0]) if len(rows) else math.nan


# --------------------------------------------------------------------------------------------- 05


def latency_findings(latency: pd.DataFrame, quality: pd.DataFrame, tier_rows: pd.DataFrame | None = None
                     ) -> Findings:
    """05: batch-1 p50 of the fastest int8 student tiers against LLM-direct, their quality on ClariQ, and (with
    the tier table) each distilled tier against the served ensemble."""
    b1 = latency[latency["batch_size"] == 1]

    def fastest(system: str, variant: str | None = None) -> pd.Series | None:
        rows = b1[(b1["system"] == system) & ((b1["variant"] == variant) if variant else True)]
        return None if rows.empty else rows.loc[rows["p50_ms"].astype(float).idxmin()]

    student, static, llm = fastest("student", "onnx_int8"), fastest("static_student", "onnx_int8"), fastest("llm_direct")
    sentences = []
    tiers = [(name, row) for name, row in (("the int8 student", student), ("the int8 static student", static))
             if row is not None]
    if tiers:
        text = "At batch 1 (p50, tokenisation included) " + " and ".join(
            f"{name} answers in {_ms(float(row['p50_ms']))} ({_plural(int(row['threads']), 'thread')})"
            for name, row in tiers)
        if llm is not None:
            text += (f", LLM-direct ({llm['variant']}) in {_ms(float(llm['p50_ms']))}: " + " and ".join(
                f"{float(llm['p50_ms']) / float(row['p50_ms']):,.0f}x" for _, row in tiers) + " faster")
        sentences.append(text + ".")
    thr = latency[latency["batch_size"] > 1]
    if not thr.empty:
        top = thr.loc[thr["throughput_qps"].astype(float).idxmax()]
        sentences.append(f"The highest throughput is {float(top['throughput_qps']):,.0f} queries/s "
                         f"({top['system'].replace('_', ' ')} {top['variant']}, batch {int(top['batch_size'])}).")
    clariq = quality[quality["dataset"] == "clariq"] if "dataset" in quality else quality.iloc[0:0]
    if not clariq.empty:
        shown = [f"{str(r['system']).replace('_', ' ')} {r['variant']} {_f(r['roc_auc'])}"
                 for _, r in clariq.iterrows() if str(r.get("variant", "")) in ("onnx_int8", "zero_shot", "few_shot")
                 or str(r.get("system", "")).startswith("llm")]
        if shown:
            sentences.append("ClariQ ROC-AUC of the served models: " + ", ".join(shown) + ".")
    if tier_rows is not None and not tier_rows.empty:
        sentences.extend(tier_sentences(tier_rows))
    return Findings(tuple(sentences) or ("No system was measured.",))


_TIER_LABELS = {"small_transformer": "The small transformer", "static_distilled": "The distilled static student"}


def tier_sentences(tiers: pd.DataFrame) -> list[str]:
    """One sentence per distilled tier: its cost, its ROC-AUC gap to the served ensemble per benchmark, and
    whether the distillation targets are met."""
    rows = tiers.set_index("system")
    if "teacher_ensemble" not in rows.index:
        return []
    teacher = rows.loc["teacher_ensemble"]
    benches = [c.removeprefix("gap_") for c in tiers.columns if c.startswith("gap_")]
    out = [f"The served teacher ensemble answers in {_ms(float(teacher['p50_ms']))} at batch 1 with ROC-AUC "
           + ", ".join(f"{b} {_f(teacher[f'roc_auc_{b}'])}" for b in benches) + "."]
    for system, label in _TIER_LABELS.items():
        if system not in rows.index:
            continue
        row = rows.loc[system]
        gaps = ", ".join(f"{b} {float(row[f'gap_{b}']):+.3f}" for b in benches if pd.notna(row[f"gap_{b}"]))
        verdict = {True: "meets the targets", False: "misses the targets"}.get(row.get("meets_targets"),
                                                                                 "has no target verdict")
        out.append(f"{label} answers in {_ms(float(row['p50_ms']))} ({float(row['throughput_qps']):,.0f} queries/s "
                   f"at its best batch size); ROC-AUC against the ensemble: {gaps}; it {verdict}.")
    return out


def _control_words(train_set: str) -> tuple[str, str, str]:
    """(what the control of ``train_set`` is, the verdict when the set beats it, the verdict when it does not)."""
    if train_set == f"strategy/{LENGTH_RESAMPLED_STEM}":
        return ("random-draw control", "it teaches more than the same rows drawn with their length cue.",
                "it teaches no more than the same rows drawn with their length cue.")
    return ("random-deletion control", "it teaches more than shortening.",
            "it teaches no more than deleting the same number of words.")


def transfer_findings(wide: pd.DataFrame) -> Findings:
    """The transfer study in sentences: the student chosen by the development slice (never a benchmark) against
    its own length-only control and the targets, then each strategy against its control (random deletion,
    or the random draw of ``length_resampled``)."""
    chosen = choose_student(wide)
    if chosen is None:
        return Findings(("No training set was probed.",))
    benches = (("clariq", "ClariQ"), ("ambignq", "AmbigNQ"), ("clamber", "CLAMBER NK+LA"))
    scores = ", ".join(f"{label} {_f(chosen[f'{b} roc_auc'])} (length-only {_f(chosen[f'{b} length_only'])}, "
                       f"length-controlled {_f(chosen[f'{b} lc_roc_auc'])})" for b, label in benches)
    n_seeds = chosen.get("seeds", np.nan)
    seeds = "" if pd.isna(n_seeds) else f" ({int(n_seeds)} seed{'s' if int(n_seeds) != 1 else ''})"
    misses = target_misses(chosen)
    verdict = ("It meets every target." if not misses else "Targets missed: " + "; ".join(misses) + ".")
    sentences = [f"Chosen by the development slice (500 labelled AmbigNQ-train questions; ROC-AUC "
                 f"{_f(chosen['dev roc_auc'])}), **{chosen['train_set']}** with {chosen['student']}{seeds} "
                 f"gives ROC-AUC {scores}; mean {_f(chosen['mean_3 roc_auc'])} against "
                 f"{_f(chosen['mean_3 length_only'])} for length alone. {verdict}"]
    by_key = wide.set_index(["train_set", "method"])
    for name, method in wide.loc[~wide["train_set"].str.endswith("-control"), ["train_set", "method"]].itertuples(
            index=False):
        control = (f"{name}-control", method)
        if control in by_key.index:
            mine, theirs = float(by_key.at[(name, method), "mean_3 roc_auc"]), float(by_key.at[control, "mean_3 roc_auc"])
            kind, more, no_more = _control_words(name)
            sentences.append(f"`{name}` ({by_key.at[(name, method), 'student']}) scores a mean ROC-AUC of {_f(mine)} "
                             f"against {_f(theirs)} for its {kind} ({mine - theirs:+.3f}): "
                             + (more if mine - theirs > 0.01 else no_more))
    return Findings(tuple(sentences))


def combine(*parts: Findings) -> Findings:
    """One paragraph of the sentences of several findings, in order."""
    return Findings(tuple(sentence for part in parts for sentence in part.sentences))


def evaluate_findings(evaluation: EvaluationResult, transfer: TransferResult) -> Findings:
    """04's paragraph: the results on the published benchmarks, then the transfer study."""
    datasets = [d for d in evaluation.datasets if d in PUBLISHED_BENCHMARKS]
    return combine(evaluation_findings(evaluation.table, datasets), transfer_findings(transfer.wide))
