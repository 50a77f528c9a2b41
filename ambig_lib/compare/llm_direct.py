"""Ask a teacher LLM directly whether a query is ambiguous (the baseline the students are compared with).

Any :class:`~ambig_lib.teachers.base.Teacher` answers; the request carries a JSON schema that allows only
``{"ambiguous": "yes"}`` or ``{"ambiguous": "no"}`` (grammar-constrained on llama.cpp, structured outputs on
OpenAI-compatible servers). Where the backend returns token log-probabilities, the score
``P(yes) / (P(yes) + P(no))`` at the answer token ranks queries for ROC-AUC. An answer that does not parse is
counted and reported as unparseable: it is never mapped to a class. Calls go through
:class:`~ambig_lib.teachers.cache.CachedTeacher`, so re-running an evaluation costs no model time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ambig_lib.core import paths
from ambig_lib.core.errors import AmbigError
from ambig_lib.data.benchmarks import load_eval_set
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.evaluation.metrics import evaluate_probabilities
from ambig_lib.teachers.base import ChatRequest, ChatResponse, Teacher
from ambig_lib.teachers.cache import CachedTeacher
from ambig_lib.teachers.registry import TEACHERS, build_teacher

MODES: tuple[str, ...] = ("zero_shot", "few_shot")
METHOD_PREFIX = "llm_direct_"
ANSWER_KEY = "ambiguous"
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {ANSWER_KEY: {"type": "string", "enum": ["yes", "no"]}},
    "required": [ANSWER_KEY],
    "additionalProperties": False,
}
SYSTEM_PROMPT = (
    "You classify search queries and questions sent to an assistant. A query is AMBIGUOUS when it needs a "
    "clarifying question before it can be answered well: it has several plausible interpretations, is too broad, "
    "or lacks information the answer depends on. A query is CLEAR when one interpretation is obvious and it can "
    "be answered as asked. Reply with JSON only: {\"ambiguous\": \"yes\"} or {\"ambiguous\": \"no\"}."
)
USER_TEMPLATE = "Query: {query}\nIs this query ambiguous?"
_YES, _NO = "yes", "no"


class LLMDirectError(AmbigError):
    """Bad input to LLM-direct classification (unknown mode, empty query, no teacher set for examples)."""


# ------------------------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class FewShotExample:
    query: str
    ambiguous: bool


def few_shot_examples(teacher_set: str = "seed/gpt-4.1", per_class: int = 3, seed: int = 0) -> list[FewShotExample]:
    """``per_class`` ambiguous and clear queries drawn (seeded) from a teacher set, interleaved.

    The examples come from synthetic teacher data, never from an evaluation set.
    """
    if per_class < 1:
        raise LLMDirectError(f"per_class must be >= 1, got {per_class}.")
    frame = load_teacher_set(teacher_set)
    rng = np.random.default_rng(seed)
    picks: dict[int, list[str]] = {}
    for label in (1, 0):
        pool = frame.loc[frame["binary_label"] == label, "initial_request"].drop_duplicates().tolist()
        if len(pool) < per_class:
            raise LLMDirectError(f"{teacher_set} has {len(pool)} queries of label {label}; need {per_class}.")
        picks[label] = [pool[i] for i in rng.choice(len(pool), size=per_class, replace=False)]
    return [FewShotExample(q, bool(label)) for pair in zip(picks[1], picks[0], strict=True)
            for label, q in zip((1, 0), pair, strict=True)]


def _answer_json(ambiguous: bool) -> str:
    return json.dumps({ANSWER_KEY: _YES if ambiguous else _NO})


def build_messages(query: str, mode: str = "zero_shot",
                   examples: Sequence[FewShotExample] = ()) -> tuple[dict[str, str], ...]:
    """Chat messages for one query; few-shot examples are earlier user / assistant turns (query last)."""
    if mode not in MODES:
        raise LLMDirectError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    if not isinstance(query, str) or not query.strip():
        raise LLMDirectError("Cannot classify an empty query.")
    if mode == "few_shot" and not examples:
        raise LLMDirectError("mode='few_shot' needs examples (see few_shot_examples()).")
    messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    if mode == "few_shot":
        for example in examples:
            messages.append({"role": "user", "content": USER_TEMPLATE.format(query=example.query)})
            messages.append({"role": "assistant", "content": _answer_json(example.ambiguous)})
    messages.append({"role": "user", "content": USER_TEMPLATE.format(query=query.strip())})
    return tuple(messages)


def build_request(query: str, mode: str = "zero_shot", examples: Sequence[FewShotExample] = (),
                  logprobs: int | None = 20, seed: int = 0) -> ChatRequest:
    """A greedy, schema-constrained request (temperature 0, a few tokens) for one query."""
    return ChatRequest(messages=build_messages(query, mode, examples), temperature=0.0, top_p=1.0, max_tokens=16,
                       seed=seed, json_schema=ANSWER_SCHEMA, logprobs=logprobs)


# ------------------------------------------------------------------------------------------- parsing


def parse_answer(text: str) -> bool | None:
    """True (ambiguous), False (clear) or None when ``text`` is not exactly the schema's JSON object."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict) or set(value) != {ANSWER_KEY}:
        return None
    answer = value[ANSWER_KEY]
    if not isinstance(answer, str):
        return None
    answer = answer.strip().lower()
    return True if answer == _YES else False if answer == _NO else None


_TOKEN_WORD = re.compile(r"^[\s\"':]*([A-Za-z]+)")


def _token_word(token: str) -> str | None:
    match = _TOKEN_WORD.match(token)
    return match.group(1).lower() if match else None


def yes_score(top_logprobs: Sequence[dict[str, float]] | None) -> float:
    """``P(yes) / (P(yes) + P(no))`` at the answer position: the generated position with the most yes + no mass.

    The first position is not it: a model asked for JSON puts ``{"`` there, with ``Yes`` / ``No`` far down its
    list (seen with the 1.5B: 0.76 for every query at that position). Token variants (``yes``, `` yes``,
    ``"yes``, ``Yes``) are pooled. When only one word is among the top tokens, the other is given the
    probability of the least likely listed token (an upper bound), so the score stays strictly between 0 and 1.
    NaN when no position mentions either word or there are no log-probabilities.
    """
    if not top_logprobs:
        return math.nan
    best: tuple[float, float] | None = None  # (yes + no mass, score)
    for position in top_logprobs:
        mass = {_YES: 0.0, _NO: 0.0}
        for token, logprob in position.items():
            word = _token_word(token)
            if word in mass:
                mass[word] += math.exp(logprob)
        if mass[_YES] == 0.0 and mass[_NO] == 0.0:
            continue
        floor = math.exp(min(position.values()))
        yes, no = mass[_YES] or floor, mass[_NO] or floor
        if best is None or mass[_YES] + mass[_NO] > best[0]:
            best = (mass[_YES] + mass[_NO], yes / (yes + no))
    return math.nan if best is None else best[1]


# -------------------------------------------------------------------------------------- classification


@dataclass
class LLMDirectResult:
    """Per-query answers of one teacher in one mode, with the counts that matter."""

    teacher: str
    mode: str
    frame: pd.DataFrame  # query, answer (1/0/<NA>), score (float or NaN), text, finish_reason, cached
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def n_unparseable(self) -> int:
        return int(self.frame["answer"].isna().sum())

    @property
    def n_cached(self) -> int:
        return int(self.frame["cached"].sum())

    @property
    def has_scores(self) -> bool:
        return bool(self.frame["score"].notna().any())


def cache_path(teacher_name: str) -> Path:
    """The committed response cache of LLM-direct answers of ``teacher_name`` (``data/llm_direct/``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", teacher_name)
    return paths.llm_direct_dir() / f"{safe}.cache.jsonl"


def build_direct_teacher(name: str, backend: str | None = None, **options: Any) -> Teacher:
    """``build_teacher`` for LLM-direct: on llama.cpp, choice scoring (one forward pass per query, see
    :mod:`ambig_lib.teachers.llamacpp_choice`) unless ``choice_decoding`` is given."""
    spec = TEACHERS.get(name)
    if (backend or (spec.backend if spec else None)) == "llamacpp":
        options.setdefault("choice_decoding", "logits")
    return build_teacher(name, backend=backend, **options)


def cached_teacher(teacher: Teacher, path: str | Path | None = None, offline: bool = False) -> Teacher:
    """Wrap ``teacher`` in the response cache (no-op when it already is a ``CachedTeacher``)."""
    if isinstance(teacher, CachedTeacher):
        return teacher
    return CachedTeacher(teacher, path or cache_path(teacher.name), offline=offline)


def classify(teacher: Teacher, queries: Sequence[str], mode: str = "zero_shot",
             examples: Sequence[FewShotExample] = (), logprobs: int | None = 20, chunk: int = 25) -> LLMDirectResult:
    """Ask ``teacher`` about every query (through whatever caching it has), in order, with a progress bar.

    Wrap a raw backend with :func:`cached_teacher` first to make re-runs free.
    """
    from tqdm.auto import tqdm

    if isinstance(queries, str):
        raise LLMDirectError("classify() takes a list of queries, got one string.")
    requests = [build_request(q, mode, examples, logprobs) for q in queries]
    responses: list[ChatResponse] = []
    with tqdm(total=len(requests), desc=f"llm_direct {mode} {teacher.name}") as bar:
        for start in range(0, len(requests), chunk):
            responses.extend(teacher.complete(requests[start:start + chunk]))
            bar.update(min(chunk, len(requests) - start))
    answers = [parse_answer(r.text) if r.error is None else None for r in responses]
    frame = pd.DataFrame({
        "query": list(queries),
        "answer": pd.array([None if a is None else int(a) for a in answers], dtype="Int64"),
        "score": [yes_score(r.top_logprobs) if r.error is None else math.nan for r in responses],
        "text": [r.text for r in responses],
        "finish_reason": [r.finish_reason for r in responses],
        "error": [r.error for r in responses],
        "cached": [bool(r.cached) for r in responses],
    })
    return LLMDirectResult(teacher.name, mode, frame, teacher.identity())


# ------------------------------------------------------------------------------------------ evaluation


def evaluation_row(result: LLMDirectResult, y_true: Sequence[int], dataset: str, n_resamples: int = 1000
                   ) -> dict[str, Any]:
    """One ``evaluation.csv`` row: metrics over the parsed answers, plus how many did not parse.

    The ranking score is the yes-probability where available, else the 0/1 answer (ROC-AUC then equals
    balanced accuracy). ``n`` counts parsed answers; ``n_total`` and ``n_unparseable`` say what was dropped.
    """
    y = np.asarray(y_true, dtype=int)
    if len(y) != result.n:
        raise LLMDirectError(f"{len(y)} labels for {result.n} answers.")
    parsed = result.frame["answer"].notna().to_numpy()
    answers = result.frame["answer"].to_numpy(dtype=float, na_value=np.nan)
    scores = result.frame["score"].to_numpy(dtype=float)
    use_score = parsed & ~np.isnan(scores)
    probability = np.where(use_score, scores, answers)[parsed]
    disagree = int(((scores[use_score] >= 0.5) != (answers[use_score] == 1)).sum())
    row: dict[str, Any] = {"method": METHOD_PREFIX + result.mode, "student": result.teacher, "teacher": "",
                           "dataset": dataset, "seeds": ""}
    if parsed.any():
        metrics, _ = evaluate_probabilities(y[parsed], [probability], n_resamples)
        row.update(metrics)
    row.update({
        "n": int(parsed.sum()), "n_total": result.n, "n_unparseable": result.n_unparseable,
        "coverage": float(parsed.mean()) if result.n else math.nan,
        "score": "yes_logprob" if use_score.any() else "answer_only",
        "score_answer_disagreements": disagree,
        "notes": f"{result.n_unparseable} of {result.n} answers unparseable (excluded from metrics)",
    })
    return row


def evaluate_llm_direct(teacher: Teacher, datasets: Sequence[str] = ("clariq", "ambignq"),
                        modes: Sequence[str] = MODES, examples: Sequence[FewShotExample] | None = None,
                        limit: int | None = None, n_resamples: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Classify every query of ``datasets`` in every mode; returns ``(rows, answers)`` for the tables.

    ``teacher`` should be cached (:func:`cached_teacher`). ``limit`` keeps the first rows of each set
    (for smoke runs; leave None for the study).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LLMDirectError(f"limit={limit!r}: give a whole number >= 1 (first N queries per set), or None for all.")
    examples = list(examples) if examples is not None else few_shot_examples()
    rows: list[dict[str, Any]] = []
    answers: list[pd.DataFrame] = []
    for dataset in datasets:
        frame = load_eval_set(dataset)
        if limit is not None:
            frame = frame.head(limit)
        for mode in modes:
            result = classify(teacher, frame["initial_request"].tolist(), mode, examples)
            rows.append(evaluation_row(result, frame["binary_label"].tolist(), dataset, n_resamples))
            answers.append(result.frame.assign(dataset=dataset, mode=mode, teacher=result.teacher,
                                               binary_label=frame["binary_label"].to_numpy()))
    return pd.DataFrame(rows), pd.concat(answers, ignore_index=True)
