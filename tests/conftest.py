"""Shared test set-up: the data mirror (../shared/mirror by default) and an isolated public-file cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ambig_lib import paths

DEFAULT_MIRROR = paths.REPO_ROOT.parent / "shared" / "mirror"
if not os.environ.get(paths.MIRROR_ENV) and DEFAULT_MIRROR.is_dir():
    os.environ[paths.MIRROR_ENV] = str(DEFAULT_MIRROR)


@pytest.fixture
def mirror() -> Path:
    """The data mirror directory; tests that need it are skipped with a reason when it is absent."""
    value = os.environ.get(paths.MIRROR_ENV)
    if not value or not Path(value).is_dir():
        pytest.fail(f"{paths.MIRROR_ENV} is not set to a directory; set it to a copy of shared/mirror.")
    return Path(value).resolve()


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache directory for public files (model payloads keep the shared cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AMBIG_CACHE_DIR", str(cache))
    return cache
