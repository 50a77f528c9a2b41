"""Which synthetic data teaches real ambiguity: a cheap, frozen-encoder probe of every training set.

For each training set (published, Zef-CNP, generated, strategies and their random-deletion controls) a
logistic regression is fitted on the frozen, mean-pooled and L2-normalised sentence embeddings of a student
encoder (default ``minilm``). Its regularisation strength is chosen by cross-validation **on the training set
only** (folds grouped by pair, or by topic, so both queries of a pair stay together). The fitted probe then
scores the real benchmarks (ClariQ, AmbigNQ dev, CLAMBER NK + LA, CLAMBER's ICL artefact) and the declared
development slice (500 labelled AmbigNQ **train** questions). Beside each probe, the length-only control of
the same training data (logistic regression on word and character counts).

Reported per (training set, benchmark): ROC-AUC with a bootstrap 95% interval, the length-controlled ROC-AUC
(AUC within bins of equal word count, averaged with weights), macro-F1 at 0.5 and the length-only control's
ROC-AUC. Choices (which strategy is "best") read only the ``dev`` column and the synthetic CV score.

The fine-tuned students of the same sets come from the training grid (``ambig train --datasets transfer``,
which has every run predict these sets too): a run of (student, set) joins the table, one row per student with
the mean over its finished seeds, as soon as its predictions cover every benchmark. The probe is what lets the
strategies be compared in minutes on a CPU; the fine-tuned rows are what the targets are read on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.figures import save_figure
from ambig_lib.core.io import sha256_text, write_json_atomic, write_text_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.data.benchmarks import CLAMBER_HEADLINE_SUBCLASSES, TRANSFER_BENCHMARKS, load_eval_set
from ambig_lib.data.teacher_sets import load_teacher_set, resolve_teacher_sets
from ambig_lib.evaluation.metrics import (
    EvaluationError,
    binary_metrics,
    bootstrap_ci,
    length_controlled_roc_auc,
)
from ambig_lib.models.students import resolve_student, set_torch_threads
from ambig_lib.runs import read_predictions, run_dir
from ambig_lib.training.baselines import fit_length_only

#: Benchmarks every probe is scored on; ``ambignq_train_dev`` is the declared development slice.
PROBE_SETS = ("clariq", "ambignq", "clamber", "clamber_icl", "ambignq_train_dev")
#: The three benchmarks whose mean ROC-AUC is the headline.
HEADLINE_BENCHMARKS = TRANSFER_BENCHMARKS
#: The development slice: the only labelled real data a choice may read.
DEV_SET = "ambignq_train_dev"
#: Students whose fine-tuned runs join the table where they predicted every benchmark.
FINETUNED_STUDENTS = ("minilm", "mpnet")
#: Training seeds of the fine-tuned rows (the mean over the finished ones is reported).
FINETUNED_SEEDS = (0, 1, 2)
#: Regularisation strengths tried by the synthetic-only cross-validation.
C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of the frozen probe (recorded beside its results)."""

    encoder: str = "minilm"
    max_length: int = 64
    batch_size: int = 128
    folds: int = 5
    seed: int = 0
    n_resamples: int = 1000
    max_rows: int | None = 20000  # larger sets are subsampled (stratified, seeded) to bound CPU time


def embeddings_cache_dir() -> Path:
    return paths.cache_dir() / "embeddings"


@torch.no_grad()
def embed(texts: Sequence[str], encoder: str = "minilm", max_length: int = 64, batch_size: int = 128,
          progress: bool = True) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` from the frozen encoder (cached by content hash)."""
    from transformers import AutoModel, AutoTokenizer

    texts = [str(t) for t in texts]
    key = hashlib.sha256(("\n".join(texts) + f"|{encoder}|{max_length}").encode("utf-8")).hexdigest()[:24]
    cache = embeddings_cache_dir() / f"{encoder}-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    path = resolve_student(encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_torch_threads()
    model = AutoModel.from_pretrained(path).eval()
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc=f"embed {encoder}", leave=False, disable=not progress):
        batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        chunks.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    out = np.vstack(chunks) if chunks else np.empty((0, model.config.hidden_size), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(cache)
    return out


def training_groups(frame: pd.DataFrame) -> np.ndarray:
    """CV groups of a training set: ``pair_id`` where the set has pairs, else ``topic``."""
    if "pair_id" in frame.columns and frame["pair_id"].astype(str).str.len().gt(0).all():
        return frame["pair_id"].astype(str).to_numpy()
    return frame["topic"].astype(str).to_numpy()


def subsample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, whole groups kept, chosen with a seeded generator."""
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    groups = pd.unique(training_groups(frame))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    sizes = pd.Series(training_groups(frame)).value_counts()
    chosen, total = [], 0
    for i in order:
        if total >= max_rows:
            break
        chosen.append(groups[i])
        total += int(sizes[groups[i]])
    return frame[pd.Series(training_groups(frame)).isin(set(chosen)).to_numpy()].reset_index(drop=True)


def choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> tuple[float, dict[str, float]]:
    """The C of :data:`C_GRID` with the best mean held-out ROC-AUC over grouped, stratified folds."""
    n_splits = min(folds, len(np.unique(groups)))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    splits = list(splitter.split(x, y, groups))
    for c in C_GRID:
        fold_scores = []
        for train, test in splits:
            model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            model.fit(x[train], y[train])
            fold_scores.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))
        scores[str(c)] = float(np.mean(fold_scores))
    best = max(C_GRID, key=lambda c: (scores[str(c)], -c))
    return best, scores


def probe_dir(encoder: str, train_set: str) -> Path:
    """``runs/probe-<encoder>/<set slug>/``: the probe's predictions and summary (committed)."""
    slug = train_set if "/" not in train_set or not Path(train_set).is_absolute() else Path(train_set).stem
    return paths.runs_dir() / f"probe-{Path(encoder).name}" / slug.replace("/", "__")


def _set_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the training rows (text and label) the probe is fitted on."""
    body = "\n".join(f"{t}\t{y}" for t, y in zip(frame["initial_request"].astype(str),
                                                  frame["binary_label"].astype(int), strict=True))
    return sha256_text(body)


def benchmark_frames() -> dict[str, pd.DataFrame]:
    """The probe's benchmarks, CLAMBER's headline subclasses also one by one (``clamber:<subclass>``)."""
    frames = {name: load_eval_set(name).reset_index(drop=True) for name in PROBE_SETS}
    for sub in CLAMBER_HEADLINE_SUBCLASSES:
        frames[f"clamber:{sub}"] = frames["clamber"][frames["clamber"]["subclass"] == sub].reset_index(drop=True)
    return frames


def _read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"initial_request": str, "benchmark": str}, keep_default_na=False)


def probe_training_set(name: str, benchmarks: dict[str, pd.DataFrame], config: ProbeConfig = ProbeConfig(),
                       progress: bool = True, force: bool = False) -> tuple[pd.DataFrame, dict[str, object]]:
    """Predictions of the probe and of the length-only control of ``name`` on every benchmark, and the fit
    record; reused from ``probe_dir`` while the training rows and the settings are unchanged."""
    frame = subsample(load_teacher_set(name), config.max_rows, config.seed)
    out = probe_dir(config.encoder, name)
    settings = {**asdict(config), "c_grid": list(C_GRID)}
    fingerprint = _set_fingerprint(frame)
    summary_path, predictions_path = out / "summary.json", out / "predictions.tsv"
    if not force and summary_path.is_file() and predictions_path.is_file():
        previous = json.loads(summary_path.read_text(encoding="utf-8"))
        if previous.get("train_rows_sha256") == fingerprint and previous.get("settings") == settings:
            predictions = _read_predictions(predictions_path)
            if set(predictions["benchmark"]) >= set(benchmarks):
                return predictions, previous
    texts = frame["initial_request"].astype(str).tolist()
    y = frame["binary_label"].astype(int).to_numpy()
    x = embed(texts, config.encoder, config.max_length, config.batch_size, progress)
    c, cv = choose_c(x, y, training_groups(frame), config.folds, config.seed)
    probe = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)
    length_model = fit_length_only(texts, y.tolist(), seed=config.seed)
    parts = []
    for bench, data in benchmarks.items():
        bench_texts = data["initial_request"].astype(str).tolist()
        bx = embed(bench_texts, config.encoder, config.max_length, config.batch_size, progress)
        parts.append(pd.DataFrame({"benchmark": bench, "initial_request": bench_texts,
                                   "binary_label": data["binary_label"].astype(int).to_numpy(),
                                   "probe": np.round(probe.predict_proba(bx)[:, 1].astype(float), 6),
                                   "length_only": np.round(length_model.predict_proba(bench_texts)[:, 1], 6)}))
    predictions = pd.concat(parts, ignore_index=True)
    record = {"train_set": name, "rows": len(frame), "train_rows_sha256": fingerprint, "settings": settings,
              "c": c, "cv_roc_auc": round(cv[str(c)], 6), "cv_scores": {k: round(v, 6) for k, v in cv.items()},
              "grouped_by": "pair_id" if "pair_id" in frame.columns else "topic",
              "package_versions": software_versions()}
    write_text_atomic(predictions_path, predictions.to_csv(sep="\t", index=False))
    write_json_atomic(summary_path, record)
    return _read_predictions(predictions_path), record


def score_predictions(name: str, predictions: pd.DataFrame, encoder: str, n_resamples: int = 1000,
                      seed: int = 0) -> list[dict[str, object]]:
    """Rows of the long transfer table for one training set: probe and length-only control per benchmark."""
    rows: list[dict[str, object]] = []
    for bench, part in predictions.groupby("benchmark", sort=False):
        y = part["binary_label"].astype(int).to_numpy()
        texts = part["initial_request"].astype(str).tolist()
        for method, column in ((f"probe_{encoder}", "probe"), ("length_only", "length_only")):
            matrix = part[column].astype(float).to_numpy()[None, :]
            rows.append({"train_set": name, "method": method, "benchmark": bench, "n": int(len(y)),
                         **_scores(texts, y, matrix, n_resamples, seed)})
    return rows


def _scores(texts: list[str], y: np.ndarray, matrix: np.ndarray, n_resamples: int, seed: int) -> dict[str, float]:
    """ROC-AUC, macro-F1 and length-controlled ROC-AUC, each the mean over the rows of ``matrix`` (one per seed),
    with bootstrap CIs that resample the same queries for every row."""
    per_row = [binary_metrics(y, prob) for prob in matrix]
    auc_ci = bootstrap_ci(y, matrix, "roc_auc", n_resamples=n_resamples, seed=seed)
    f1_ci = bootstrap_ci(y, matrix, "macro_f1", n_resamples=n_resamples, seed=seed)
    lcs = [length_controlled_roc_auc(texts, y, prob) for prob in matrix]
    return {"roc_auc": float(np.mean([m["roc_auc"] for m in per_row])), "roc_auc_low": auc_ci[0],
            "roc_auc_high": auc_ci[1], "macro_f1": float(np.mean([m["macro_f1"] for m in per_row])),
            "macro_f1_low": f1_ci[0], "macro_f1_high": f1_ci[1],
            "lc_roc_auc": float(np.mean([lc["auc"] for lc in lcs])), "lc_coverage": lcs[0]["coverage"]}


def finetuned_predictions(student: str, name: str, seeds: Sequence[int], benchmarks: dict[str, pd.DataFrame]
                          ) -> tuple[pd.DataFrame | None, list[int]]:
    """The fine-tuned runs' probabilities on every benchmark (one ``seed_<k>`` column per seed whose run
    predicted them all) and those seeds; ``(None, [])`` when no seed did.

    CLAMBER's subclasses are sliced from the run's CLAMBER predictions. A prediction file whose texts differ
    from the benchmark's (a stale run) is an :class:`EvaluationError` naming the file and the fix.
    """
    base = [b for b in benchmarks if ":" not in b]
    columns: dict[int, dict[str, np.ndarray]] = {}
    for seed in seeds:
        folder = run_dir(student, name, seed)
        files = {bench: folder / f"predictions_{bench}.tsv" for bench in base}
        if not all(path.is_file() for path in files.values()):
            continue
        per_bench = {}
        for bench, path in files.items():
            frame = read_predictions(path)
            if frame["initial_request"].astype(str).tolist() != benchmarks[bench]["initial_request"].astype(str).tolist():
                raise EvaluationError(f"{path}: its texts are not the current {bench} benchmark's. Fix: retrain the "
                                    f"run (ambig train --students {student} --teachers {name} --seeds {seed} "
                                    "--datasets transfer --no-resume).")
            per_bench[bench] = frame["probability"].astype(float).to_numpy()
        columns[seed] = per_bench
    if not columns:
        return None, []
    parts = []
    for bench, data in benchmarks.items():
        parent, _, subclass = bench.partition(":")
        mask = (benchmarks[parent]["subclass"] == subclass).to_numpy() if subclass else slice(None)
        part = pd.DataFrame({"benchmark": bench, "initial_request": data["initial_request"].astype(str).to_numpy(),
                             "binary_label": data["binary_label"].astype(int).to_numpy()})
        for seed, per_bench in columns.items():
            part[f"seed_{seed}"] = per_bench[parent][mask]
        parts.append(part)
    return pd.concat(parts, ignore_index=True), sorted(columns)


def score_finetuned(name: str, predictions: pd.DataFrame, student: str, n_resamples: int = 1000,
                    seed: int = 0) -> list[dict[str, object]]:
    """Rows of the long transfer table for the fine-tuned runs of one (set, student): per benchmark the mean
    over seeds of ROC-AUC, macro-F1 and length-controlled ROC-AUC; the CIs resample the same queries for
    every seed and score the seeds' mean metric."""
    seed_columns = [c for c in predictions.columns if c.startswith("seed_")]
    rows: list[dict[str, object]] = []
    for bench, part in predictions.groupby("benchmark", sort=False):
        y = part["binary_label"].astype(int).to_numpy()
        texts = part["initial_request"].astype(str).tolist()
        matrix = part[seed_columns].astype(float).to_numpy().T
        rows.append({"train_set": name, "method": f"finetuned_{student}", "benchmark": bench, "n": int(len(y)),
                     **_scores(texts, y, matrix, n_resamples, seed), "seeds": len(seed_columns)})
    return rows


def transfer_table(spec: str | Sequence[str] = "all", config: ProbeConfig = ProbeConfig(),
                   progress: bool = True, finetuned_students: Sequence[str] = FINETUNED_STUDENTS,
                   seeds: Sequence[int] = FINETUNED_SEEDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long transfer table (one row per training set, method, benchmark) and the per-set fit records.

    Methods: the frozen probe and the length-only control of every set, and ``finetuned_<student>`` for every
    student whose runs on the set predicted every benchmark (:func:`finetuned_predictions`).
    """
    names = resolve_teacher_sets(spec)
    benchmarks = benchmark_frames()
    rows: list[dict[str, object]] = []
    records = []
    for name in tqdm(names, desc="probe training sets", disable=not progress):
        predictions, record = probe_training_set(name, benchmarks, config, progress=False)
        rows += score_predictions(name, predictions, config.encoder, config.n_resamples, config.seed)
        records.append({k: record[k] for k in ("train_set", "rows", "c", "cv_roc_auc", "grouped_by")})
        for student in finetuned_students:
            tuned, _ = finetuned_predictions(student, name, seeds, benchmarks)
            if tuned is not None:
                rows += score_finetuned(name, tuned, student, config.n_resamples, config.seed)
    return pd.DataFrame(rows), pd.DataFrame(records)


def method_label(method: str) -> str:
    """How a method is named in the tables: ``probe minilm``, ``minilm fine-tuned``."""
    kind, _, student = method.partition("_")
    return f"probe {student}" if kind == "probe" else f"{student} fine-tuned"


def wide_table(long: pd.DataFrame, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (training set, method): the ROC-AUC [95% CI] and length-controlled ROC-AUC per benchmark,
    the mean ROC-AUC over ClariQ, AmbigNQ and CLAMBER (the headline), the length-only control of the same
    training data, and the choice signals (synthetic CV of the probe, the dev slice). Fine-tuned rows also
    carry their number of seeds."""
    scored = long[long["method"] != "length_only"].set_index(["train_set", "method", "benchmark"])
    length = long[long["method"] == "length_only"].set_index(["train_set", "benchmark"])
    out = []
    pairs = long.loc[long["method"] != "length_only", ["train_set", "method"]].drop_duplicates()
    for name, method in pairs.itertuples(index=False):
        row: dict[str, object] = {"train_set": name, "method": method, "student": method_label(method)}
        for bench in HEADLINE_BENCHMARKS + ("clamber:NK", "clamber:co-reference", "clamber:polysemy",
                                            "clamber_icl"):
            if (name, method, bench) not in scored.index:
                continue
            r = scored.loc[(name, method, bench)]
            row[f"{bench} roc_auc"] = r["roc_auc"]
            row[f"{bench} ci"] = f"[{r['roc_auc_low']:.2f}, {r['roc_auc_high']:.2f}]"
            row[f"{bench} macro_f1"] = r["macro_f1"]
            if bench in HEADLINE_BENCHMARKS:
                row[f"{bench} lc_roc_auc"] = r["lc_roc_auc"]
                row[f"{bench} length_only"] = length.loc[(name, bench)]["roc_auc"]
        row["mean_3 roc_auc"] = float(np.mean([row[f"{b} roc_auc"] for b in HEADLINE_BENCHMARKS]))
        row["mean_3 length_only"] = float(np.mean([row[f"{b} length_only"] for b in HEADLINE_BENCHMARKS]))
        dev = (name, method, DEV_SET)
        row["dev roc_auc"] = scored.loc[dev]["roc_auc"] if dev in scored.index else np.nan
        seeds = scored.loc[(name, method, HEADLINE_BENCHMARKS[0])].get("seeds", np.nan)
        row["seeds"] = int(seeds) if pd.notna(seeds) else np.nan
        out.append(row)
    wide = pd.DataFrame(out)
    if records is not None and len(records):
        wide = wide.merge(records[["train_set", "rows", "cv_roc_auc"]], on="train_set", how="left")
    return wide


def markdown_table(wide: pd.DataFrame) -> str:
    """The transfer table as Markdown: ROC-AUC [CI] (length-controlled) per benchmark, mean, controls."""
    lines = ["| training set | student | rows | probe CV | dev | ClariQ | AmbigNQ | CLAMBER | mean | length-only mean "
             "| ICL (artefact) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in wide.iterrows():
        cells = [f"{r[f'{b} roc_auc']:.3f} {r[f'{b} ci']} (lc {r[f'{b} lc_roc_auc']:.3f})"
                 for b in HEADLINE_BENCHMARKS]
        seeds = r.get("seeds", np.nan)
        student = r["student"] + ("" if pd.isna(seeds) else f" ({int(seeds)} seed{'s' if int(seeds) != 1 else ''})")
        lines.append(f"| {r['train_set']} | {student} | {int(r['rows'])} | {r['cv_roc_auc']:.3f} | "
                     f"{r['dev roc_auc']:.3f} | " + " | ".join(cells) + f" | {r['mean_3 roc_auc']:.3f} | "
                     f"{r['mean_3 length_only']:.3f} | {r.get('clamber_icl roc_auc', float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


def transfer_heatmap(wide: pd.DataFrame, target: Path | None = None) -> plt.Figure:
    """Heatmap of ROC-AUC per (training set, method) and benchmark (mean and the controls' mean beside)."""
    columns = [f"{b} roc_auc" for b in HEADLINE_BENCHMARKS + ("clamber:NK", "clamber:co-reference",
                                                                "clamber:polysemy")] + ["mean_3 roc_auc",
                                                                                       "mean_3 length_only"]
    labelled = wide.assign(label=wide["train_set"] + " · " + wide["student"])
    data = labelled.set_index("label")[[c for c in columns if c in wide.columns]]
    data.index.name = None
    data.columns = [c.replace(" roc_auc", "").replace("mean_3 length_only", "length-only mean")
                    .replace("mean_3", "mean") for c in data.columns]
    fig, ax = plt.subplots(figsize=(1.1 * len(data.columns) + 4.5, 0.42 * len(data) + 1.5))
    sns.heatmap(data, annot=True, fmt=".2f", cmap="vlag", center=0.5, vmin=0.3, vmax=0.9, ax=ax,
                cbar_kws={"label": "ROC-AUC"})
    ax.set_title("Transfer: students trained on each set, scored on real benchmarks")
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.tight_layout()
    if target is not None:
        save_figure(fig, target)
    return fig


def write_transfer_tables(long: pd.DataFrame, records: pd.DataFrame, out_dir: Path | None = None,
                          figures_dir: Path | None = None) -> dict[str, Path]:
    """``transfer.csv`` (long, every metric), ``transfer.md`` (wide) and ``transfer_heatmap.png``."""
    tables = out_dir if out_dir is not None else paths.tables_dir()
    figures = figures_dir if figures_dir is not None else paths.figures_dir()
    wide = wide_table(long, records)
    written = {"csv": tables / "transfer.csv", "md": tables / "transfer.md",
               "heatmap": figures / "transfer_heatmap.png"}
    write_text_atomic(written["csv"], long.to_csv(index=False, float_format="%.6f"))
    write_text_atomic(written["md"], markdown_table(wide))
    plt.close(transfer_heatmap(wide, written["heatmap"]))
    return written
