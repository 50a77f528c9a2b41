"""Synthetic teacher sets: ask a teacher for intents per topic, validate, retry, deduplicate, balance, write.

One call, :func:`generate_set`, runs the whole stage:

1. For each topic, render the prompt style (:mod:`ambig_lib.generation.prompts`) and request JSON against its schema.
2. Validate the answer (:func:`parse_topic_output`): 5 intents, no empty field, distinct intents and queries,
   ambiguous query different from the specific one. A failed topic is asked again with a new
   ``sample_index`` (bounded by ``max_attempts``); the raw text of every failure goes to the failures file.
3. Drop pairs whose ambiguous query could not be built (``length_matched``: the named detail is not in the
   query, or the replacement repeats it or is much longer), then pairs that string several questions
   together ("...? ...?"), then exact and near-duplicate queries inside the set. A pair loses both queries
   when one goes, so labels stay balanced per topic. Every removal is listed in the failures file too.
4. Write ``<teacher>_<prompt>_balanced_strict.tsv``, its ``.provenance.json`` and ``.failures.jsonl``
   atomically. A set that is not the canonical one (a topic limit, another seed or sampling) is named by what
   differs and written to ``variants/`` (see :func:`output_paths`); an existing set with other settings is
   never replaced without ``force``. All requests go through :class:`~ambig_lib.teachers.cache.CachedTeacher`
   (``.cache.jsonl`` beside the canonical TSV), so a re-run gives a byte-identical TSV without the model and an
   interrupted run continues where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.core.io import sha256_file, sha256_text, write_json_atomic, write_text_atomic
from ambig_lib.core.provenance import software_versions
from ambig_lib.core.text import safe_name, word_count
from ambig_lib.data.benchmarks import evaluation_texts, real_seed_questions
from ambig_lib.generation.filters import (
    drop_exact_duplicates,
    drop_multi_question_pairs,
    drop_near_duplicates,
    drop_unbuilt_pairs,
)
from ambig_lib.generation.parsing import IntentPair, OutputRejected, check_response, parsed_row_count
from ambig_lib.generation.prompts import (
    PromptStyle,
    get_prompt_style,
)
from ambig_lib.generation.topics import load_topics
from ambig_lib.teachers.base import ChatRequest, ChatResponse, Teacher
from ambig_lib.teachers.cache import CachedTeacher
from ambig_lib.teachers.registry import default_sampling

TSV_COLUMNS = ("topic", "initial_request", "binary_label", "user_information_need",
               "intent", "ambiguity_type", "pair_id", "sample_index")


SET_SUFFIX = "_balanced_strict"


class GenerationError(AmbigError):
    """The generation stage was configured wrongly (bad limit, unknown style, empty topic list)."""


class EmptySetError(GenerationError):
    """Every topic failed validation: nothing to write (the failures file and provenance are still written)."""


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that decides a generated set (recorded in provenance; sampling enters the cache key)."""

    teacher: str
    prompt: str = "length_matched"
    topics: tuple[str, ...] = ()
    seed: int = 0
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    max_attempts: int = 4
    batch_size: int = 1
    near_duplicate_threshold: float = 0.8

    def __post_init__(self) -> None:
        if not self.topics:
            raise GenerationError("GenerationConfig.topics is empty. Fix: pass topics=tuple(load_topics(limit)).")
        if self.max_attempts < 1 or self.batch_size < 1:
            raise GenerationError(f"max_attempts ({self.max_attempts}) and batch_size ({self.batch_size}) "
                                  "must be >= 1.")
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise GenerationError(f"near_duplicate_threshold must be in (0, 1], got "
                                  f"{self.near_duplicate_threshold}.")
        get_prompt_style(self.prompt)  # fails early on an unknown style

    @classmethod
    def for_teacher(cls, teacher: str, prompt: str, topics: Sequence[str], seed: int = 0,
                    **settings: Any) -> GenerationConfig:
        """A config whose temperature / top_p / max_tokens default to the teacher's registered sampling
        (``ambig_lib.teachers.registry.default_sampling``); ``settings`` given as None are left at that."""
        merged: dict[str, Any] = {k: v for k, v in default_sampling(teacher).items()
                                  if k in {"temperature", "top_p", "max_tokens"}}
        merged.update({k: v for k, v in settings.items() if v is not None})
        return cls(teacher=teacher, prompt=prompt, topics=tuple(topics), seed=seed, **merged)

    def variant_tags(self) -> list[str]:
        """What makes this set differ from the canonical one of its teacher and prompt style, as file-name tags.

        Canonical: every packaged topic (``real_seeded``: the :data:`DEFAULT_REAL_SEEDS` first seeds), seed 0, the teacher's registered sampling, the default ``max_attempts``
        and near-duplicate threshold. Each difference is one tag: ``topics3`` (the first 3 packaged topics) or
        ``topics2-<hash>`` (another list), ``seed1``, ``temp0.5``, ``topp0.9``, ``maxtok512``, ``attempts2``,
        ``neardup0.9``. ``batch_size`` changes how requests are sent, not the answers, so it is no tag.
        """
        tags = []
        packaged = generation_units(self.prompt)  # every packaged topic, or the default real seeds
        unit = "seeds" if get_prompt_style(self.prompt).unit_name == "seed" else "topics"
        if list(self.topics) != packaged:
            n = len(self.topics)
            tags.append(f"{unit}{n}" if list(self.topics) == packaged[:n]
                        else f"{unit}{n}-{sha256_text(chr(10).join(self.topics))[:8]}")
        if self.seed != 0:
            tags.append(f"seed{self.seed}")
        registered = default_sampling(self.teacher)
        for field_name, tag in (("temperature", "temp"), ("top_p", "topp"), ("max_tokens", "maxtok")):
            value = getattr(self, field_name)
            if field_name in registered and value != registered[field_name]:
                tags.append(f"{tag}{value:g}")
        defaults = {f.name: f.default for f in fields(GenerationConfig)}
        if self.max_attempts != defaults["max_attempts"]:
            tags.append(f"attempts{self.max_attempts}")
        if self.near_duplicate_threshold != defaults["near_duplicate_threshold"]:
            tags.append(f"neardup{self.near_duplicate_threshold:g}")
        return tags

    @property
    def canonical_stem(self) -> str:
        """``<teacher>_<prompt>_balanced_strict`` (teacher name made file-safe): the name of the full set."""
        return f"{safe_name(self.teacher)}_{self.prompt}{SET_SUFFIX}"

    @property
    def stem(self) -> str:
        """File stem: the canonical stem, with the variant tags before ``_balanced_strict`` when there are any
        (``qwen2.5-coder-1.5b_length_matched_topics3_balanced_strict``)."""
        tags = self.variant_tags()
        if not tags:
            return self.canonical_stem
        return f"{safe_name(self.teacher)}_{self.prompt}_{'_'.join(tags)}{SET_SUFFIX}"

    def settings(self) -> dict[str, Any]:
        """What decides the content of the set (compared with an existing set's provenance before replacing it)."""
        return {"topics": list(self.topics), "sampling": self.sampling(), "max_attempts": self.max_attempts,
                "near_duplicate_threshold": self.near_duplicate_threshold,
                "prompt_hash": get_prompt_style(self.prompt).prompt_hash()}

    def sampling(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "seed": self.seed}


@dataclass
class GenerationResult:
    """What :func:`generate_set` wrote and measured."""

    frame: pd.DataFrame
    provenance: dict[str, Any]
    tsv_path: Path
    provenance_path: Path
    failures_path: Path
    cache_path: Path
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return self.provenance["counts"]

    def counts_table(self) -> pd.DataFrame:
        """Rows (queries) left after each stage, and topics that did not end with 5 of 5 pairs."""
        c = self.counts
        stages = ["rows_requested", "rows_parsed", "rows_valid", "rows_after_replacement_check",
                  "rows_after_single_question_filter", "rows_after_exact_dedup", "rows_after_near_dedup",
                  "rows_written"]
        return pd.DataFrame({"stage": [s.removeprefix("rows_") for s in stages], "rows": [c.get(s) for s in stages]})


def pairs_to_frame(pairs: Sequence[IntentPair]) -> pd.DataFrame:
    """Two rows per pair (specific, label 0, then ambiguous, label 1) in the TSV column order; a ``register``
    column is added when the pairs have one (taxonomy)."""
    rows = []
    for p in pairs:
        for query, label in ((p.specific_query, 0), (p.ambiguous_query, 1)):
            rows.append({"topic": p.topic, "initial_request": query, "binary_label": label,
                         "user_information_need": p.user_information_need, "intent": p.intent,
                         "ambiguity_type": p.ambiguity_type if label == 1 else "", "pair_id": p.pair_id,
                         "sample_index": p.sample_index, "register": p.register})
    columns = list(TSV_COLUMNS) + (["register"] if any(p.register for p in pairs) else [])
    return pd.DataFrame(rows, columns=columns)


def frame_to_tsv(frame: pd.DataFrame) -> str:
    """Tab-separated text with a header, ``\\n`` line ends, minimal quoting (readable by the set loader)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow(["" if v is None else str(v) for v in row])
    return buffer.getvalue()


def length_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, median and std of words per query by label (0 specific, 1 ambiguous)."""
    words = frame["initial_request"].map(word_count)
    table = words.groupby(frame["binary_label"]).agg(["count", "mean", "median", "std"]).round(2)
    table.index = table.index.map({0: "specific (0)", 1: "ambiguous (1)"})
    return table


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable (an old provenance file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def build_request(style: PromptStyle, topic: str, config: GenerationConfig, sample_index: int) -> ChatRequest:
    """The chat request for ``topic``; ``sample_index`` > 0 is a retry (a new cache key and seed)."""
    return ChatRequest(messages=style.messages(topic), temperature=config.temperature, top_p=config.top_p,
                       max_tokens=config.max_tokens, seed=config.seed, json_schema=style.json_schema(),
                       sample_index=sample_index)


def _failure_record(topic: str, sample_index: int, response: ChatResponse, rejected: OutputRejected) -> dict:
    return {"stage": "validation", "topic": topic, "sample_index": sample_index, "reason": rejected.reason,
            "detail": rejected.detail, "finish_reason": response.finish_reason,
            "completion_tokens": response.completion_tokens, "raw": response.text}


VARIANTS_DIR = "variants"


def output_paths(config: GenerationConfig, out_dir: Path) -> dict[str, Path]:
    """TSV, provenance, failures and cache paths of a set.

    A canonical set lives in ``out_dir``; any other in ``out_dir/variants/`` under its tagged stem. Both share
    the canonical set's response cache (``out_dir/<teacher>_<prompt>_balanced_strict.cache.jsonl``): it is
    content-addressed, so a partial run answers from the full run's cache (and adds only new answers).
    """
    folder = out_dir if not config.variant_tags() else out_dir / VARIANTS_DIR
    stem = folder / config.stem
    return {"tsv": Path(f"{stem}.tsv"), "provenance": Path(f"{stem}.provenance.json"),
            "failures": Path(f"{stem}.failures.jsonl"), "cache": out_dir / f"{config.canonical_stem}.cache.jsonl"}


def check_replaceable(config: GenerationConfig, files: dict[str, Path], force: bool = False) -> None:
    """Refuse to replace an existing set written with other settings (or without provenance) unless ``force``."""
    if force or not (files["tsv"].exists() or files["provenance"].exists()):
        return
    previous = _read_json(files["provenance"])
    if previous is None:
        raise GenerationError(f"{files['tsv']} exists without a readable {files['provenance'].name}, so it cannot be "
                              "told apart from this run. Fix: choose another --out-dir, or pass --force "
                              "(force=True) to replace it.")
    theirs = {"topics": previous.get("topics"), "sampling": previous.get("sampling"),
              "max_attempts": previous.get("max_attempts"),
              "near_duplicate_threshold": previous.get("near_duplicate_threshold"),
              "prompt_hash": (previous.get("prompt") or {}).get("hash")}
    ours = config.settings()
    differ = [key for key in ours if ours[key] != theirs[key]]
    if differ:
        def shown(value: Any) -> str:
            return f"{len(value)} topics" if isinstance(value, list) else json.dumps(value, sort_keys=True)

        detail = "; ".join(f"{key}: {shown(theirs[key])} there, {shown(ours[key])} now" for key in differ)
        raise GenerationError(f"{files['tsv']} was generated with other settings ({detail}); this run would replace "
                              "it. Fix: choose another --out-dir, or pass --force (force=True) to replace it.")


def generate_set(teacher: Teacher, config: GenerationConfig, out_dir: str | Path | None = None,
                 cache_path: str | Path | None = None, offline: bool = False,
                 progress: bool = True, force: bool = False) -> GenerationResult:
    """Generate, validate, deduplicate and write one teacher set; see the module docstring.

    ``teacher`` is a raw backend; it is wrapped in a :class:`CachedTeacher` on ``cache_path`` (default: see
    :func:`output_paths`). ``offline=True`` answers only from the cache. An existing set written with other
    settings is never replaced unless ``force`` (:func:`check_replaceable`); the check runs before any model call.
    """
    style = get_prompt_style(config.prompt)
    out = Path(out_dir) if out_dir is not None else paths.synthetic_dir()
    files = output_paths(config, out)
    check_replaceable(config, files, force)
    if cache_path is not None:
        files["cache"] = Path(cache_path)
    cached = teacher if isinstance(teacher, CachedTeacher) else CachedTeacher(teacher, files["cache"],
                                                                              offline=offline)
    identity = cached.identity()
    started = time.perf_counter()
    accepted: dict[str, list[IntentPair]] = {}
    failures: list[dict[str, Any]] = []
    attempts: Counter[str] = Counter()
    chosen_parsed_rows: dict[str, int] = {}
    tokens = Counter()
    fresh = Counter()
    model_seconds = 0.0
    fresh_topics: set[str] = set()  # topics that needed at least one model call in this run
    topics = list(config.topics)
    # progress=True leaves `disable` to tqdm (TQDM_DISABLE=1 still turns the bar off)
    bar = tqdm(total=len(topics), desc=f"{config.stem}", unit="topic", **({} if progress else {"disable": True}))
    for start in range(0, len(topics), config.batch_size):
        batch = topics[start:start + config.batch_size]
        pending = list(batch)
        for sample_index in range(config.max_attempts):
            if not pending:
                break
            requests = [build_request(style, t, config, sample_index) for t in pending]
            t0 = time.perf_counter()
            responses = cached.complete(requests)
            elapsed = time.perf_counter() - t0
            if any(not r.cached for r in responses):
                model_seconds += elapsed
            still_pending = []
            for topic, response in zip(pending, responses, strict=True):
                attempts["attempts"] += 1
                tokens["prompt"] += response.prompt_tokens
                tokens["completion"] += response.completion_tokens
                if not response.cached:
                    fresh_topics.add(topic)
                    fresh["calls"] += 1
                    fresh["completion_tokens"] += response.completion_tokens
                    fresh["prompt_tokens"] += response.prompt_tokens
                chosen_parsed_rows[topic] = parsed_row_count(response.text, style, topic) if response.error is None else 0
                if chosen_parsed_rows[topic]:
                    attempts["parsed"] += 1
                try:
                    accepted[topic] = check_response(response, style, topic, sample_index)
                    attempts["valid"] += 1
                except OutputRejected as rejected:
                    failures.append(_failure_record(topic, sample_index, response, rejected))
                    still_pending.append(topic)
            pending = still_pending
        bar.update(len(batch))
        bar.set_postfix(valid=len(accepted), failed_attempts=len(failures), cached=cached.hits)
    bar.close()

    ordered = [p for t in topics for p in accepted.get(t, [])]
    built = drop_unbuilt_pairs(ordered)
    single = drop_multi_question_pairs(built.kept)
    exact = drop_exact_duplicates(single.kept)
    near = drop_near_duplicates(exact.kept, config.near_duplicate_threshold)
    failures.extend(built.removed + single.removed + exact.removed + near.removed)
    gave_up = [t for t in topics if t not in accepted]
    for topic in gave_up:
        failures.append({"stage": "gave_up", "topic": topic, "attempts": config.max_attempts,
                         "reason": f"no valid answer in {config.max_attempts} attempts"})
    frame = pairs_to_frame(near.kept)
    per_topic = Counter(p.topic for p in near.kept)
    not_full = {t: per_topic.get(t, 0) for t in topics if per_topic.get(t, 0) != style.pairs_per_unit}

    if len(frame):
        write_text_atomic(files["tsv"], frame_to_tsv(frame))
    else:  # an empty set is not a teacher set: 02-04 would fail on it much later; say so now
        files["tsv"].unlink(missing_ok=True)
    write_text_atomic(files["failures"], "".join(json.dumps(f, ensure_ascii=False, sort_keys=True) + "\n"
                                                 for f in failures))
    wall = time.perf_counter() - started
    counts = {
        "topics_requested": len(topics), "topics_valid": len(accepted), "topics_gave_up": len(gave_up),
        "topics_not_5_of_5": len(not_full),
        "attempts": attempts["attempts"], "attempts_parsed": attempts["parsed"], "attempts_valid": attempts["valid"],
        "attempts_failed": attempts["attempts"] - attempts["valid"],
        "rows_requested": len(topics) * 2 * style.pairs_per_unit,
        "rows_parsed": sum(chosen_parsed_rows.values()),
        "rows_valid": 2 * len(ordered),
        "rows_after_replacement_check": 2 * len(built.kept),
        "rows_after_single_question_filter": 2 * len(single.kept),
        "rows_after_exact_dedup": 2 * len(exact.kept),
        "rows_after_near_dedup": 2 * len(near.kept),
        "rows_written": len(frame),
        "pairs_removed_bad_replacement": len(built.removed),
        "pairs_removed_multi_question": len(single.removed),
        "pairs_removed_exact_duplicate": len(exact.removed),
        "pairs_removed_near_duplicate": len(near.removed),
        "label_0": int((frame["binary_label"] == 0).sum()), "label_1": int((frame["binary_label"] == 1).sum()),
    }
    this_run = {
        "wall_s": round(wall, 3), "model_calls": fresh["calls"], "cache_hits": cached.hits,
        "model_wall_s": round(model_seconds, 3), "fresh_prompt_tokens": fresh["prompt_tokens"],
        "fresh_completion_tokens": fresh["completion_tokens"],
        # completion tokens per second of model wall time (prompt evaluation included)
        "completion_tokens_per_s": round(fresh["completion_tokens"] / model_seconds, 2) if model_seconds else None,
        "fresh_topics": len(fresh_topics),
        "topics_per_min": round(len(fresh_topics) / model_seconds * 60, 3) if model_seconds else None,
    }
    previous = _read_json(files["provenance"]) or {}
    generation_run = this_run if fresh["calls"] else previous.get("generation_run")
    words = frame["initial_request"].map(word_count)
    provenance = {
        "stage": "generation", "set": config.stem, "teacher": identity, "teacher_name": config.teacher,
        "prompt": {"style": style.name, "description": style.description, "hash": style.prompt_hash()},
        "sampling": config.sampling(), "max_attempts": config.max_attempts, "batch_size": config.batch_size,
        "near_duplicate_threshold": config.near_duplicate_threshold,
        "topics": topics, "topics_gave_up": gave_up, "topics_not_5_of_5": not_full,
        "counts": counts,
        "tokens": {"prompt": tokens["prompt"], "completion": tokens["completion"]},
        "mean_words": {"specific": round(float(words[frame["binary_label"] == 0].mean()), 3) if len(frame) else None,
                       "ambiguous": round(float(words[frame["binary_label"] == 1].mean()), 3) if len(frame) else None},
        "ambiguity_types": dict(sorted(Counter(t for t in frame["ambiguity_type"] if t).items())),
        "generation_run": generation_run, "this_run": this_run,
        "files": {"tsv": files["tsv"].name if len(frame) else None,
                  "tsv_sha256": sha256_file(files["tsv"]) if len(frame) else None,
                  "failures": files["failures"].name, "cache": files["cache"].name},
        "package_versions": software_versions(),
    }
    write_json_atomic(files["provenance"], provenance)
    if not len(frame):
        raise EmptySetError(
            f"{config.stem}: no topic of {len(topics)} gave a valid answer in {config.max_attempts} attempts, so no "
            f"TSV was written. Every rejected answer and its reason is in {files['failures']}. Fix: raise "
            f"--max-attempts, use a stronger teacher, or check the prompt style {config.prompt!r} with --limit 2.")
    return GenerationResult(frame=frame, provenance=provenance, tsv_path=files["tsv"],
                            provenance_path=files["provenance"], failures_path=files["failures"],
                            cache_path=files["cache"], failures=failures)


def examples(frame: pd.DataFrame, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """``n`` random pairs side by side: topic, specific query, ambiguous query, ambiguity type, word counts."""
    spec = frame[frame["binary_label"] == 0].set_index("pair_id")
    amb = frame[frame["binary_label"] == 1].set_index("pair_id")
    joined = spec[["topic", "initial_request"]].join(amb[["initial_request", "ambiguity_type"]], rsuffix="_amb")
    joined.columns = ["topic", "specific", "ambiguous", "ambiguity_type"]
    joined["words_specific"] = joined["specific"].map(word_count)
    joined["words_ambiguous"] = joined["ambiguous"].map(word_count)
    return joined.sample(n=min(n, len(joined)), random_state=seed) if len(joined) else joined


#: Seeds a ``real_seeded`` run takes when no limit is given.
DEFAULT_REAL_SEEDS = 1000


def generation_units(prompt: str, limit: int | None = None, topics_file: Path | None = None) -> list[str]:
    """What each request of ``prompt`` is about: the packaged topics (or ``topics_file``), or for a ``seed``
    style the real AmbigNQ-train seed questions (never the dev slice, never an evaluation text)."""
    if get_prompt_style(prompt).unit_name == "seed":
        if limit is not None and limit < 1:
            raise GenerationError(f"limit must be >= 1, got {limit}.")
        return real_seed_questions(DEFAULT_REAL_SEEDS if limit is None else limit, exclude=evaluation_texts())
    return load_topics(limit, topics_file)


def make_configs(teacher: str, prompt_styles: Sequence[str], limit: int | None = None, seed: int = 0,
                 **settings: Any) -> list[GenerationConfig]:
    """One config per prompt style over its units (the packaged topics, or real seeds; the first ``limit``);
    sampling settings left out (or None) take the teacher's registered defaults."""
    return [GenerationConfig.for_teacher(teacher, p, generation_units(p, limit), seed=seed, **settings)
            for p in prompt_styles]


def generate_sets(teacher: Teacher, configs: Sequence[GenerationConfig], out_dir: str | Path | None = None,
                  offline: bool = False, progress: bool = True, force: bool = False) -> dict[str, GenerationResult]:
    """:func:`generate_set` for each config, keyed by set stem."""
    return {c.stem: generate_set(teacher, c, out_dir=out_dir, offline=offline, progress=progress, force=force)
            for c in configs}


def generate_study(teacher: Teacher, teacher_name: str, prompt_styles: Sequence[str], limit: int | None = None,
                   seed: int = 0, out_dir: str | Path | None = None, offline: bool = False, **settings: Any
                   ) -> dict[str, GenerationResult]:
    """01's generation: one set per prompt style from ``teacher`` (registered as ``teacher_name``, which picks
    the default sampling), cached and resumable; ``settings`` are sampling and retry settings (None: the
    teacher's defaults)."""
    return generate_sets(teacher, make_configs(teacher_name, prompt_styles, limit=limit, seed=seed, **settings),
                         out_dir=out_dir, offline=offline)


def stage_counts(results: dict[str, GenerationResult]) -> pd.DataFrame:
    """Counts of every stage (rows = counters, columns = sets)."""
    return pd.DataFrame({stem: r.counts for stem, r in results.items()})


def length_table(results: dict[str, GenerationResult]) -> pd.DataFrame:
    """Mean words of specific vs ambiguous queries per set, and their difference."""
    rows = {}
    for stem, r in results.items():
        words = r.frame["initial_request"].map(word_count)
        spec, amb = words[r.frame["binary_label"] == 0].mean(), words[r.frame["binary_label"] == 1].mean()
        rows[stem] = {"mean_words_specific": round(spec, 2), "mean_words_ambiguous": round(amb, 2),
                      "difference": round(spec - amb, 2)}
    return pd.DataFrame(rows).T


def failure_summary(results: dict[str, GenerationResult]) -> pd.DataFrame:
    """Number of failures per set, stage and reason (validation failures, duplicates, gave up)."""
    rows = [{"set": stem, "stage": f["stage"], "reason": f.get("reason", f["stage"])}
            for stem, r in results.items() for f in r.failures]
    if not rows:
        return pd.DataFrame(columns=["set", "stage", "reason", "count"])
    return pd.DataFrame(rows).value_counts().rename("count").reset_index()


def examples_table(results: dict[str, GenerationResult], n: int = 5, seed: int = 0) -> pd.DataFrame:
    """:func:`examples` of every set in one table (a ``set`` column first)."""
    frames = [examples(r.frame, n=n, seed=seed).assign(set=stem) for stem, r in results.items()]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames).reset_index(drop=True)
    return table[["set", *[c for c in table.columns if c != "set"]]]


def provenance_table(results: dict[str, GenerationResult]) -> pd.DataFrame:
    """The provenance of each set that a reader checks (teacher, model hash, prompt, sampling, tokens, time),
    one column per set; the full record is the set's ``.provenance.json``."""
    def row(p: dict[str, Any]) -> dict[str, Any]:
        teacher, run = p.get("teacher", {}), p.get("generation_run", {})
        return {"teacher": p.get("teacher_name"), "backend": teacher.get("backend"),
                "model sha256": str(teacher.get("sha256") or "")[:12], "prompt style": p["prompt"]["style"],
                "prompt hash": p["prompt"]["hash"][:12],
                "sampling": ", ".join(f"{k}={v}" for k, v in p.get("sampling", {}).items()),
                "topics valid / requested": f"{p['counts']['topics_valid']} / {p['counts']['topics_requested']}",
                "tokens prompt / completion": f"{p['tokens']['prompt']:,} / {p['tokens']['completion']:,}",
                "model calls (generation run)": run.get("model_calls"),
                "model wall time (generation run)": f"{run.get('model_wall_s', 0) / 60:.1f} min",
                "tsv sha256": p.get("files", {}).get("tsv_sha256", "")[:12]}
    return pd.DataFrame({stem: row(r.provenance) for stem, r in results.items()})
