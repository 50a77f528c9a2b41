"""Assertions shared by several test packages."""

from __future__ import annotations


def assert_one_line_error(err: str, *needles: str) -> None:
    """``err`` is one ``error: ...`` line (no traceback) holding every needle."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
