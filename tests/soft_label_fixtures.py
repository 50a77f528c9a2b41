"""Soft labels of a small synthetic pool with a lexical rule a student can learn (shared by the distillation
tier tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ambig_lib.training.distillation import SoftLabels

TOPICS = ["paris", "java", "jaguar", "mercury", "apple", "python", "amazon", "turkey", "bass", "crane"]
PLACES = ["london", "tokyo", "lima", "oslo", "cairo", "quito", "perth", "dakar"]


def rule_soft_labels(folder: Path, n: int = 400) -> SoftLabels:
    """``n`` queries: "tell me about <topic>" (teacher p 0.85) and "what year was <topic> founded in <place>?"
    (p 0.1), alternating; cached as a TSV under ``folder`` like the pool's soft labels."""
    rows = []
    for i in range(n):
        topic, place = TOPICS[i % len(TOPICS)], PLACES[(i // len(TOPICS)) % len(PLACES)]
        if i % 2:
            rows.append((f"tell me about {topic} {i}", 0.85))
        else:
            rows.append((f"what year was {topic} founded in {place} {i}?", 0.1))
    frame = pd.DataFrame(rows, columns=["query", "p_ambiguous"])
    path = folder / "soft_labels_rule.tsv"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False)
    teacher = {"student": "rule", "teacher_set": "seed/gpt-4.1", "seeds": [0], "folds": 2, "runs": []}
    return SoftLabels(frame, path, "computed (test)", teacher)
