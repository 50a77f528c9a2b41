"""The one PNG writer of every figure: headless backend, atomic write, byte-reproducible output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless; notebooks display the saved PNGs
import matplotlib.pyplot as plt  # noqa: E402

from ambig_lib.core.io import atomic_path  # noqa: E402

#: Resolution of the dense figures (training curves, evaluation heatmaps and ROC curves); others use 120.
DENSE_DPI = 130


def save_figure(fig: plt.Figure, target: Path, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG atomically and close it. Fixed DPI and no software or timestamp metadata: identical
    data gives identical bytes on any machine."""
    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return target
