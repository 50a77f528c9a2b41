"""The topics the teacher writes queries about, kept as data in ``resources/topics.txt``.

The list is the published study's 100 topics (Activism ... Writing) in its order, so ``limit=10`` takes the
same first ten topics the published ``--limit`` did.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ambig_lib.core.errors import AmbigError

TOPICS_RESOURCE = "topics.txt"


class TopicsError(AmbigError):
    """The topics file is malformed (empty entries, duplicates) or a requested topic selection is invalid."""


def parse_topics(text: str, source: str = "<string>") -> list[str]:
    """Parse a topics file: one topic per line, ``#`` comments and blank lines ignored, no duplicates."""
    topics: list[str] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        topic = " ".join(line.split())
        if not topic or topic.startswith("#"):
            continue
        if "\t" in line:
            raise TopicsError(f"{source}, line {line_no}: a tab inside topic {line!r}. Fix: one topic per line.")
        key = topic.casefold()
        if key in seen:
            raise TopicsError(f"{source}, line {line_no}: topic {topic!r} repeats line {seen[key]} "
                              "(case-insensitive). Fix: remove one of them.")
        seen[key] = line_no
        topics.append(topic)
    if not topics:
        raise TopicsError(f"{source}: no topics. Fix: write one topic per line.")
    return topics


def load_topics(limit: int | None = None, path: str | Path | None = None) -> list[str]:
    """The packaged topics (or those in ``path``), the first ``limit`` of them when given."""
    if path is not None:
        source = str(path)
        text = Path(path).read_text(encoding="utf-8")
    else:
        resource = resources.files("ambig_lib").joinpath("resources", TOPICS_RESOURCE)
        source = str(resource)
        text = resource.read_text(encoding="utf-8")
    topics = parse_topics(text, source)
    if limit is not None:
        if limit < 1:
            raise TopicsError(f"limit must be >= 1, got {limit}. Fix: omit it to use all {len(topics)} topics.")
        topics = topics[:limit]
    return topics
