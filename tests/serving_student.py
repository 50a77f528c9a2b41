"""Shared by the serving and latency tests: a briefly fine-tuned minilm and its export, cached on disk.

Training (about 60 AdamW steps) happens once per recipe; later test runs reuse ``data/cache/dev_student``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ambig_lib.core import paths
from ambig_lib.serving.export import ExportOptions, export_onnx
from ambig_lib.serving.layout import EXPORT_META

TEST_STEPS = 200


def _trainer():  # noqa: ANN202 - the script's function
    spec = importlib.util.spec_from_file_location("make_dev_student", paths.REPO_ROOT / "scripts" / "make_dev_student.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train_dev_student


def dev_student_dir() -> Path:
    """A minilm classifier fine-tuned for ``TEST_STEPS`` steps on seed/gpt-4.1 (cached)."""
    return _trainer()(paths.REPO_ROOT / "data" / "cache" / "dev_student" / f"minilm-gpt41-{TEST_STEPS}",
                      steps=TEST_STEPS)


def exported_dir(out_dir: Path) -> Path:
    """Export the dev student to ``out_dir`` (skipped when an export of the same source is already there)."""
    if not (out_dir / EXPORT_META).is_file():
        export_onnx(dev_student_dir(), out_dir, ExportOptions(max_length=64))
    return out_dir
