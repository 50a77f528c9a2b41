"""Thread choice on a shared CPU."""

from __future__ import annotations

import os

import pytest

from ambig_lib.core import cpu


@pytest.mark.parametrize(("load", "cores", "expected"), [(0.0, 2, 2), (1.0, 2, 2), (1.6, 2, 1), (5.0, 2, 1),
                                                          (2.0, 8, 7), (0.2, 8, 8)])
def test_free_cores_discounts_the_caller(monkeypatch: pytest.MonkeyPatch, load: float, cores: int,
                                         expected: int) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delenv("AMBIG_X_THREADS", raising=False)
    assert cpu.free_cores("AMBIG_X_THREADS") == expected
    monkeypatch.setenv("AMBIG_X_THREADS", "3")
    assert cpu.free_cores("AMBIG_X_THREADS") == 3
