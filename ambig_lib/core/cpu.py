"""How many threads a CPU-bound stage should use on a possibly shared machine."""

from __future__ import annotations

import os


def free_cores(override_env: str | None = None) -> int:
    """Cores not kept busy by other work (1-minute load average), at least 1; ``$override_env`` wins.

    Threads that outnumber the free cores spin and wait for each other (measured here on 2 shared cores at
    load 5-8: llama.cpp 0.39 vs 2.95 tokens/s with 2 vs 1 threads; a minilm step 6.0 s vs 2.7 s). The load
    average also counts the calling process itself, which usually keeps one core busy right before this is
    asked, so one unit of load is not counted as other work: an idle machine gets every core.
    """
    if override_env:
        value = os.environ.get(override_env, "").strip()
        if value:
            return max(1, int(value))
    cores = os.cpu_count() or 1
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)
    except (OSError, AttributeError):
        return cores
    return max(1, min(cores, int(cores - busy + 0.5)))
