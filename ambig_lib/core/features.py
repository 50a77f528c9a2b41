"""Surface features of a query and the two shortcut classifiers built on them.

One definition serves 02's audit (cross-validated accuracy on a teacher set) and 04's baselines (the
length-only control and TF-IDF logistic regression trained on a teacher set and scored on the benchmarks),
so the audit's "length-only" is the same model as the results tables' control.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ambig_lib.core.text import word_count


def length_features(texts: Iterable[str]) -> np.ndarray:
    """Per text: number of words and of characters."""
    return np.array([[word_count(str(t)), len(str(t))] for t in texts], dtype=float)


def length_only_classifier(seed: int = 0) -> Pipeline:
    """Balanced logistic regression on (words, characters), standardised; raw strings in."""
    return make_pipeline(FunctionTransformer(length_features), StandardScaler(),
                         LogisticRegression(class_weight="balanced", random_state=seed, max_iter=1000))


def tfidf_classifier(seed: int = 0) -> Pipeline:
    """TF-IDF of lower-cased word 1-2-grams (sublinear tf) + balanced logistic regression; raw strings in."""
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
                         LogisticRegression(class_weight="balanced", random_state=seed, max_iter=2000))
