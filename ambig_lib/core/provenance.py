"""The one record of the software that shaped an artefact (written beside every artefact's provenance)."""

from __future__ import annotations

import importlib.metadata as metadata
import platform

#: Distributions whose versions decide numbers or speed somewhere in the pipeline (absent ones are left out).
RECORDED_DISTRIBUTIONS: tuple[str, ...] = (
    "ambig_lib", "numpy", "pandas", "scikit-learn", "torch", "transformers", "tokenizers", "onnx", "onnxruntime",
    "model2vec", "llama_cpp_python", "openai", "tqdm",
)


def software_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Python, the platform and the installed versions of ``RECORDED_DISTRIBUTIONS`` plus ``extra``."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in dict.fromkeys((*RECORDED_DISTRIBUTIONS, *extra)):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions
