"""Repository-relative locations of every artefact, and the data-mirror setting.

One place decides where things live; every other module imports these names.
Override the data root with ``AMBIG_DATA_DIR`` and the results root with ``AMBIG_RESULTS_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``).
REPO_ROOT: Path = Path(__file__).resolve().parents[2]

#: Data files shipped inside the package (``ambig_lib/resources/``).
RESOURCES_DIR: Path = Path(__file__).resolve().parents[1] / "resources"

#: Environment variable naming a local mirror of the public data files (layout of ``shared/mirror``).
MIRROR_ENV = "AMBIG_DATA_MIRROR"
#: Environment variable that forbids any network access for data and models ("1" = offline).
OFFLINE_ENV = "AMBIG_OFFLINE"


def data_dir() -> Path:
    """Root of data artefacts: ``data/`` (or ``$AMBIG_DATA_DIR``)."""
    return Path(os.environ.get("AMBIG_DATA_DIR", REPO_ROOT / "data"))


def cache_dir() -> Path:
    """Git-ignored cache of downloaded public files and model payloads."""
    return Path(os.environ.get("AMBIG_CACHE_DIR", data_dir() / "cache"))


def synthetic_dir() -> Path:
    """Generated teacher sets, their provenance and response caches (committed); ``$AMBIG_SYNTHETIC_DIR``."""
    return Path(os.environ.get("AMBIG_SYNTHETIC_DIR", data_dir() / "synthetic"))


def llm_direct_dir() -> Path:
    """Response caches of LLM-direct classification (committed); ``$AMBIG_LLM_DIRECT_DIR``."""
    return Path(os.environ.get("AMBIG_LLM_DIRECT_DIR", data_dir() / "llm_direct"))


def pool_dir() -> Path:
    """The transfer pool of unlabeled queries and its cached soft labels (committed); ``$AMBIG_POOL_DIR``."""
    return Path(os.environ.get("AMBIG_POOL_DIR", data_dir() / "pool"))


def runs_dir() -> Path:
    """Git-ignored training runs: checkpoints, predictions, summaries."""
    return Path(os.environ.get("AMBIG_RUNS_DIR", REPO_ROOT / "runs"))


def results_dir() -> Path:
    """Committed study outputs: tables, figures, executed notebooks."""
    return Path(os.environ.get("AMBIG_RESULTS_DIR", REPO_ROOT / "results"))


def tables_dir() -> Path:
    return results_dir() / "tables"


def figures_dir() -> Path:
    return results_dir() / "figures"


def executed_notebooks_dir() -> Path:
    return results_dir() / "notebooks"


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def profiles_dir() -> Path:
    return REPO_ROOT / "profiles"


def published_results_file() -> Path:
    """The published study's reported numbers (``resources/seed_reported_results.csv``; source beside it)."""
    return RESOURCES_DIR / "seed_reported_results.csv"


def model_cache_dir() -> Path:
    """Model payloads: ``data/cache/models`` by default; ``$AMBIG_MODEL_CACHE`` shares one store between checkouts."""
    override = os.environ.get("AMBIG_MODEL_CACHE")
    return Path(override).expanduser() if override else cache_dir() / "models"


def mirror_dir() -> Path | None:
    """The local data mirror named by ``$AMBIG_DATA_MIRROR``, or None."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser().resolve() if value else None


def offline() -> bool:
    """True when ``$AMBIG_OFFLINE`` forbids network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def _logical_roots() -> list[tuple[Path, str]]:
    """(folder, reference prefix) of every place an artefact may name; relocated folders keep their prefix."""
    roots: list[tuple[Path, str]] = [
        (model_cache_dir(), "cache:models/"), (cache_dir(), "cache:"), (synthetic_dir(), "data/synthetic/"),
        (llm_direct_dir(), "data/llm_direct/"), (pool_dir(), "data/pool/"), (runs_dir(), "runs/"), (results_dir(), "results/"),
        (data_dir(), "data/"),
    ]
    mirror = mirror_dir()
    if mirror is not None:
        roots.append((mirror, "mirror:"))
    return roots


def portable_path(path: str | os.PathLike[str]) -> str:
    """How an artefact names ``path`` without this machine's absolute paths.

    A file under one of the study's folders is named relative to that folder's role, whatever
    ``$AMBIG_*_DIR`` relocated it to: ``runs/minilm/seed/gpt-4.1/0/fold_0``, ``results/figures/x.png``,
    ``data/synthetic/...``, ``cache:models/minilm`` (the model store), ``cache:public/...``,
    ``mirror:seed/...`` (the data mirror). The most specific folder wins. Other paths inside the repository are
    repository-relative; a relative path or a name is already portable; anything else (a user's own file
    elsewhere) is returned unchanged.
    """
    text = os.fspath(path)
    if not Path(text).expanduser().is_absolute():
        return text  # a name or an already relative path
    target = Path(text).expanduser().resolve()
    best: tuple[int, str] | None = None
    for root, prefix in _logical_roots():
        resolved = root.expanduser().resolve()
        if target == resolved or resolved in target.parents:
            depth = len(resolved.parts)
            if best is None or depth > best[0]:
                rel = target.relative_to(resolved).as_posix()
                best = (depth, (prefix + rel) if rel != "." else prefix.rstrip("/"))
    if best is not None:
        return best[1]
    root = REPO_ROOT.resolve()
    if root in target.parents:
        return target.relative_to(root).as_posix()
    return text


def from_portable(reference: str) -> Path:
    """The local path a ``portable_path`` reference names on this machine (the inverse of ``portable_path``).

    ``runs/...``, ``results/...``, ``data/...`` (and ``data/synthetic/...``, ``data/llm_direct/...``, ``data/pool/...``) resolve
    against the folders ``$AMBIG_*_DIR`` name here, ``cache:...`` against the caches, ``mirror:...`` against
    the data mirror; other relative paths against the repository; an absolute path is returned as is.
    """
    if Path(reference).is_absolute():
        return Path(reference)
    if reference.startswith("mirror:"):
        mirror = mirror_dir()
        if mirror is None:
            raise ValueError(f"{reference!r} names the data mirror, but ${MIRROR_ENV} is not set.")
        return mirror / reference.removeprefix("mirror:")
    for root, prefix in sorted(_logical_roots(), key=lambda pair: -len(pair[1])):
        if prefix.startswith("mirror:"):
            continue
        if reference.startswith(prefix) or reference == prefix.rstrip("/"):
            return root / reference[len(prefix):]
    return REPO_ROOT / reference
