"""Repository-relative locations of every artefact, and the data-mirror setting.

One place decides where things live; every other module imports these names.
Override the data root with ``AMBIG_DATA_DIR`` and the results root with ``AMBIG_RESULTS_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``).
REPO_ROOT: Path = Path(__file__).resolve().parent.parent

#: Data files shipped inside the package (``ambig_lib/resources/``).
RESOURCES_DIR: Path = Path(__file__).resolve().parent / "resources"

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


def mirror_dir() -> Path | None:
    """The local data mirror named by ``$AMBIG_DATA_MIRROR``, or None."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser().resolve() if value else None


def offline() -> bool:
    """True when ``$AMBIG_OFFLINE`` forbids network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}
