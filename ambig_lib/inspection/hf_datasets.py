"""Teacher sets as Hugging Face ``datasets``: load, export as a dataset folder with a card, push to the hub.

- ``teacher_dataset(name)``: any teacher set (the six published ones, ``generated/<stem>``, or a TSV path) as a
  ``datasets.Dataset``, with exactly the rows and columns of ``teacher_sets.load_teacher_set``;
  ``binary_label`` is a ``ClassLabel`` (0 = specific, 1 = ambiguous).
- ``export_dataset(name, folder)``: ``folder/data/train-00000-of-00001.parquet`` plus ``folder/README.md``, a
  dataset card built from the set's provenance: teacher, prompt style, counts, the shortcut audit of
  ``02_inspect_synthetic`` (length-only and TF-IDF cross-validated accuracy), licence and citation. The folder
  is what the hub expects, so ``datasets.load_dataset(str(folder))`` reads it back.
- ``push_dataset(folder, repo_id)``: one upload when ``HF_TOKEN`` is set.

Command line (:mod:`ambig_lib.cli.datasets`)::

    ambig datasets list
    ambig datasets export seed/gpt-4.1 --out hf/gpt-4.1
    ambig datasets push hf/gpt-4.1 --repo-id USER/ambig-gpt-4.1     # needs HF_TOKEN
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.features import length_only_classifier, tfidf_classifier
from ambig_lib.core.io import atomic_path, sha256_file, write_text_atomic
from ambig_lib.core.text import word_count
from ambig_lib.data.public_files import PUBLIC_FILES, SEED_URL
from ambig_lib.data.teacher_sets import (
    PUBLISHED_SETS,
    load_teacher_set,
    teacher_label,
    teacher_set_path,
    teacher_set_source,
)
from ambig_lib.inspection.stats import cv_accuracy

LABEL_NAMES = ("specific", "ambiguous")
PARQUET_NAME = "data/train-00000-of-00001.parquet"
CARD_NAME = "README.md"
#: Seed and folds of the shortcut audit, as in the default profile's 02_inspect_synthetic.
AUDIT_SEED, AUDIT_FOLDS = 0, 5
#: Licences of the local teachers' model weights (hub identifiers), for generated sets.
TEACHER_LICENCES = {"qwen2.5-coder-1.5b": "apache-2.0", "qwen2.5-coder-0.5b": "apache-2.0"}
PUBLISHED_REPOSITORY = SEED_URL.split("/raw.githubusercontent.com/")[-1].split("/")[:2]
PUBLISHED_URL = "https://github.com/" + "/".join(PUBLISHED_REPOSITORY)
CITATION = f"""@misc{{ambiguity_distillation_published,
  title  = {{Synthetic Data Generation and PLM Fine-tuning for Query Ambiguity Detection}},
  note   = {{Published study and teacher sets}},
  url    = {{{PUBLISHED_URL}}}
}}"""


class DatasetExportError(AmbigError):
    """A teacher set cannot be converted, exported or pushed as asked."""


@dataclass(frozen=True)
class SetInfo:
    """What the card says about a teacher set: where it came from and under which terms."""

    name: str
    teacher: str
    prompt_style: str
    source: str
    sha256: str
    licence: str
    hub_licence: str
    provenance: dict[str, Any]


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DatasetExportError("the 'datasets' package is not installed. Fix: pip install -e . "
                                 "(it is a dependency in pyproject.toml).") from exc
    return datasets


def features(frame: pd.DataFrame) -> Any:
    """``datasets.Features`` of a loaded teacher set: strings, integers, and ``binary_label`` as a ClassLabel."""
    datasets = _datasets()
    spec: dict[str, Any] = {}
    for column in frame.columns:
        if column == "binary_label":
            spec[column] = datasets.ClassLabel(names=list(LABEL_NAMES))
        elif pd.api.types.is_integer_dtype(frame[column]):
            spec[column] = datasets.Value("int64")
        elif pd.api.types.is_float_dtype(frame[column]):
            spec[column] = datasets.Value("float64")
        else:
            spec[column] = datasets.Value("string")
    return datasets.Features(spec)


def teacher_dataset(name: str | os.PathLike[str]) -> Any:
    """A teacher set (registered name or TSV path) as a ``datasets.Dataset`` (same rows, columns and order)."""
    frame = load_teacher_set(name)
    return frame_to_dataset(frame)


def frame_to_dataset(frame: pd.DataFrame) -> Any:
    """A loaded teacher-set frame as a ``datasets.Dataset``."""
    datasets = _datasets()
    frame = frame.reset_index(drop=True)
    return datasets.Dataset.from_pandas(frame, features=features(frame), preserve_index=False)


def set_info(name: str) -> SetInfo:
    """Teacher, prompt style, source, SHA-256, licence and generation provenance of a teacher set."""
    path = teacher_set_path(name)
    text = str(name)
    if text in PUBLISHED_SETS:
        public = PUBLIC_FILES[PUBLISHED_SETS[text].file_key]
        return SetInfo(text, PUBLISHED_SETS[text].teacher, "seed (the published design)", public.url,
                       public.sha256, public.licence, "unknown", {})
    provenance_path = path.with_name(path.name.removesuffix(".tsv") + ".provenance.json")
    provenance = json.loads(provenance_path.read_text(encoding="utf-8")) if provenance_path.is_file() else {}
    teacher = str(provenance.get("teacher_name") or teacher_label(text))
    style = str((provenance.get("prompt") or {}).get("style") or "unknown")
    hub_licence = TEACHER_LICENCES.get(teacher, "unknown")
    licence = (f"queries written by the {teacher} model ({hub_licence} model licence); generated with ambig_lib "
               "(MIT)") if provenance else "unknown (a local file without provenance)"
    return SetInfo(text, teacher, style, teacher_set_source(text), sha256_file(path), licence, hub_licence,
                   provenance)


def shortcut_audit(frame: pd.DataFrame, seed: int = AUDIT_SEED, folds: int = AUDIT_FOLDS) -> dict[str, float]:
    """02's shortcut audit: cross-validated accuracy of a length-only and a TF-IDF classifier on the set."""
    texts = frame["initial_request"].astype(str).tolist()
    labels = frame["binary_label"].astype(int).tolist()
    words = pd.Series([word_count(t) for t in texts])
    label = pd.Series(labels)
    return {"length_only_cv_accuracy": round(float(cv_accuracy(length_only_classifier, texts, labels, folds, seed)), 3),
            "tfidf_cv_accuracy": round(float(cv_accuracy(tfidf_classifier, texts, labels, folds, seed)), 3),
            "mean_words_specific": round(float(words[label == 0].mean()), 2),
            "mean_words_ambiguous": round(float(words[label == 1].mean()), 2)}


def dataset_card(info: SetInfo, frame: pd.DataFrame, audit: dict[str, float]) -> str:
    """The README.md of an exported teacher set: YAML metadata for the hub, then provenance and audit."""
    counts = frame["binary_label"].value_counts().to_dict()
    pretty = f"Ambiguous vs specific queries by {info.teacher} ({info.prompt_style})"
    yaml_lines = [
        "---", f"license: {info.hub_licence}", "language:", "- en", "task_categories:", "- text-classification",
        f"pretty_name: {json.dumps(pretty)}", "size_categories:", "- n<1K" if len(frame) < 1000 else "- 1K<n<10K",
        "configs:", "- config_name: default", "  data_files:", "  - split: train", f"    path: {PARQUET_NAME}",
        "---", "",
    ]
    counts_section = [
        f"- rows: {len(frame)} (specific, label 0: {counts.get(0, 0)}; ambiguous, label 1: {counts.get(1, 0)})",
        f"- topics: {frame['topic'].nunique()}",
    ]
    generation = info.provenance.get("counts") or {}
    if generation:
        counts_section.append(
            f"- generation: {generation.get('topics_valid')} of {generation.get('topics_requested')} topics valid, "
            f"{generation.get('attempts')} attempts ({generation.get('attempts_failed')} failed); pairs removed as "
            f"exact / near duplicates: {generation.get('pairs_removed_exact_duplicate')} / "
            f"{generation.get('pairs_removed_near_duplicate')}")
    sampling = info.provenance.get("sampling")
    teacher_identity = info.provenance.get("teacher") or {}
    body = [
        f"# {pretty}", "",
        "Synthetic user queries for query-ambiguity detection: for each topic a teacher LLM wrote intents, each "
        "with a specific query (label 0) and an ambiguous one (label 1). Built for the distillation study "
        "`ambig_lib` (teacher LLMs write the data; small encoders learn from it).", "",
        "## Provenance", "",
        f"- teacher set: `{info.name}`", f"- teacher: {info.teacher}",
        *([f"- teacher model SHA-256: `{teacher_identity['sha256']}`"] if teacher_identity.get("sha256") else []),
        f"- prompt style: {info.prompt_style}",
        *([f"- sampling: `{json.dumps(sampling, sort_keys=True)}`"] if sampling else []),
        f"- source: `{info.source}`", f"- TSV SHA-256: `{info.sha256}`", "",
        "## Counts", "", *counts_section, "",
        "## Shortcut audit (as in notebook 02_inspect_synthetic)", "",
        "Cross-validated accuracy of classifiers that see only a shortcut "
        f"({AUDIT_FOLDS} folds, seed {AUDIT_SEED}); 0.5 is chance. A high length-only accuracy means the label "
        "can be read off the query length, which a student may learn instead of ambiguity.", "",
        "| check | value |", "|---|---|",
        f"| mean words, specific | {audit['mean_words_specific']} |",
        f"| mean words, ambiguous | {audit['mean_words_ambiguous']} |",
        f"| length-only CV accuracy | {audit['length_only_cv_accuracy']} |",
        f"| TF-IDF CV accuracy | {audit['tfidf_cv_accuracy']} |", "",
        "## Columns", "",
        "`topic`, `initial_request` (the query), `binary_label` (0 = specific, 1 = ambiguous), "
        "`user_information_need`, `source_line` (line in the source TSV), and any columns the generator added "
        "(`pair_id`, `ambiguity_type`, ...).", "",
        "## Licence", "", info.licence, "",
        "## Citation", "",
        "Cite the published study whose protocol and prompt design this follows, and Zef-CNP (Zero-shot "
        "Clarifying-question Need Prediction, ECIR 2025), which trains on LLM-generated ambiguous/specific queries "
        "in the same way:", "", "```bibtex", CITATION, "```", "",
    ]
    return "\n".join(yaml_lines + body)


def export_dataset(name: str, folder: str | os.PathLike[str], audit: dict[str, float] | None = None) -> Path:
    """Write ``folder/data/train-00000-of-00001.parquet`` and ``folder/README.md`` for teacher set ``name``."""
    folder = Path(folder)
    frame = load_teacher_set(name)
    info = set_info(name)
    dataset = frame_to_dataset(frame)
    target = folder / PARQUET_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    datasets = _datasets()
    was_disabled = not datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one small file: no bar on stderr
    try:
        with atomic_path(target) as tmp:
            dataset.to_parquet(str(tmp))
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
    write_text_atomic(folder / CARD_NAME, dataset_card(info, frame, audit or shortcut_audit(frame)))
    return folder


def load_exported(folder: str | os.PathLike[str]) -> Any:
    """The ``train`` split of an exported folder, read back with ``datasets.load_dataset('parquet', ...)``."""
    datasets = _datasets()
    return datasets.load_dataset("parquet", data_files={"train": str(Path(folder) / PARQUET_NAME)},
                                 split="train", cache_dir=str(paths.cache_dir() / "hf_datasets"))


def push_dataset(folder: str | os.PathLike[str], repo_id: str, token: str | None = None,
                 private: bool = False) -> str:
    """Upload an exported folder as the dataset repository ``repo_id``; returns its URL. Needs ``HF_TOKEN``."""
    folder = Path(folder)
    if not (folder / PARQUET_NAME).is_file() or not (folder / CARD_NAME).is_file():
        raise DatasetExportError(f"{folder} is not an exported dataset folder (no {PARQUET_NAME} or {CARD_NAME}). "
                                 "Fix: ambig datasets export NAME --out FOLDER first.")
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise DatasetExportError("HF_TOKEN is not set. Fix: export HF_TOKEN=<a write token from "
                                 "https://huggingface.co/settings/tokens>.")
    if paths.offline():
        raise DatasetExportError("AMBIG_OFFLINE is set, so nothing is uploaded. Fix: unset it on a connected machine.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                      commit_message="Upload teacher set exported by ambig_lib")
    return f"https://huggingface.co/datasets/{repo_id}"
