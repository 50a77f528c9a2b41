"""Length resampling: teacher-set rows redrawn so that length says nothing about the label.

In the published and Zef-CNP sets ambiguous queries are much shorter than specific ones (length-only CV accuracy
0.69-0.92), so a student can score well on their folds by counting words. ``length_resampled_frame`` keeps only
rows that can be matched on length: each drawn ambiguous query is paired with a specific query of the same word
count and the same character-length bin (``length_bin``: ``CHAR_BIN_WIDTH`` characters wide), no row is used twice,
and ``pairs`` such matches are drawn at random (seeded). Both labels then have the same word-count distribution by
construction, and their character lengths differ by less than one bin. (Matching on words alone, the first
version, left length-only CV accuracy at 0.776 in 02's audit: the ambiguous queries use shorter words.)

Its control, ``random_draw_frame``, draws as many ambiguous and specific queries from the same rows with no
regard to length: the strategy counts as teaching ambiguity only if it beats that draw. No model call; seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ambig_lib.core.errors import AmbigError

#: Word counts at or above this share one bin (long queries are few).
LONG_QUERY_WORDS = 25
#: Width of the character-length bins pairs are matched in (whitespace collapsed).
CHAR_BIN_WIDTH = 5
COLUMNS = ("topic", "initial_request", "binary_label", "user_information_need", "intent", "ambiguity_type",
           "pair_id", "sample_index")


class LengthResamplingError(AmbigError):
    """The sources cannot give the number of length-matched pairs asked for."""


def word_count_bin(query: str) -> int:
    """Whitespace word count, capped at :data:`LONG_QUERY_WORDS`."""
    return min(len(str(query).split()), LONG_QUERY_WORDS)


def length_bin(query: str) -> tuple[int, int]:
    """(``word_count_bin``, whitespace-collapsed character length // ``CHAR_BIN_WIDTH``): what a pair shares."""
    return word_count_bin(query), len(" ".join(str(query).split())) // CHAR_BIN_WIDTH


def source_rows(sources: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """The rows of every ``(set name, frame)`` with a known label, each distinct query (case-folded, whitespace
    collapsed) once, the first occurrence winning; ``intent`` names the source set."""
    frames = []
    for name, frame in sources:
        part = frame[frame["binary_label"].isin([0, 1])]
        frames.append(pd.DataFrame({"topic": part["topic"].astype(str), "initial_request": part["initial_request"].astype(str),
                                    "binary_label": part["binary_label"].astype(int), "intent": name}))
    if not frames:
        raise LengthResamplingError("No source set given. Fix: name teacher sets, e.g. published zefcnp.")
    rows = pd.concat(frames, ignore_index=True)
    key = rows["initial_request"].map(lambda q: " ".join(q.split()).casefold())
    return rows[~key.duplicated()].reset_index(drop=True)


def _frame(specific: pd.DataFrame, ambiguous: pd.DataFrame, prefix: str, kind: str) -> pd.DataFrame:
    out = []
    for i, (spec, amb) in enumerate(zip(specific.itertuples(), ambiguous.itertuples(), strict=True)):
        for row, label in ((spec, 0), (amb, 1)):
            out.append({"topic": row.topic, "initial_request": row.initial_request, "binary_label": label,
                        "user_information_need": "", "intent": row.intent, "ambiguity_type": kind if label else "",
                        "pair_id": f"{prefix}-{i}", "sample_index": 0})
    return pd.DataFrame(out, columns=list(COLUMNS))


def length_resampled_frame(rows: pd.DataFrame, pairs: int, seed: int = 0) -> pd.DataFrame:
    """``pairs`` (specific, ambiguous) matches of equal ``length_bin`` drawn from ``rows`` (``source_rows``),
    no row twice; two rows per match, ``pair_id`` ``lr-<k>``, ``ambiguity_type`` ``length_resampled``."""
    rng = np.random.default_rng(seed)
    bins = rows["initial_request"].map(length_bin)
    matched: list[tuple[int, int]] = []
    for value in sorted(bins.unique()):
        spec = rng.permutation(np.array(rows.index[(bins == value) & (rows["binary_label"] == 0)]))
        amb = rng.permutation(np.array(rows.index[(bins == value) & (rows["binary_label"] == 1)]))
        matched.extend(zip(spec[:len(amb)].tolist(), amb[:len(spec)].tolist(), strict=True))
    if len(matched) < pairs:
        raise LengthResamplingError(f"Only {len(matched)} length-matched pairs exist in the sources, {pairs} asked. "
                                    "Fix: ask for fewer pairs or add source sets.")
    chosen = sorted(rng.choice(len(matched), size=pairs, replace=False).tolist())
    spec_idx = [matched[k][0] for k in chosen]
    amb_idx = [matched[k][1] for k in chosen]
    return _frame(rows.loc[spec_idx], rows.loc[amb_idx], "lr", "length_resampled")


def random_draw_frame(rows: pd.DataFrame, pairs: int, seed: int = 0) -> pd.DataFrame:
    """The control: ``pairs`` specific and ``pairs`` ambiguous queries drawn from ``rows`` with no regard to length
    (paired in draw order), ``pair_id`` ``rd-<k>``, ``ambiguity_type`` ``random_draw``."""
    rng = np.random.default_rng(seed)
    spec = rows.index[rows["binary_label"] == 0].to_numpy()
    amb = rows.index[rows["binary_label"] == 1].to_numpy()
    if min(len(spec), len(amb)) < pairs:
        raise LengthResamplingError(f"The sources hold {len(spec)} specific and {len(amb)} ambiguous queries, "
                                    f"{pairs} of each asked. Fix: ask for fewer pairs.")
    return _frame(rows.loc[sorted(rng.choice(spec, pairs, replace=False))],
                  rows.loc[sorted(rng.choice(amb, pairs, replace=False))], "rd", "random_draw")
