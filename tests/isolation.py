"""Folders of a test module kept apart from the repository's (shared by several test packages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def folders_in(root: Path, *variables: str) -> Iterator[Path]:
    """Point each ``AMBIG_*`` folder variable at ``root/<its name>`` (``AMBIG_RUNS_DIR`` -> ``root/runs``) while
    the block runs; yields ``root``."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in variables:
            patch.setenv(variable, str(root / variable.removeprefix("AMBIG_").removesuffix("_DIR").lower()))
        yield root
