"""Shared test set-up (the one conftest): the data mirror (../shared/mirror by default), an isolated public-file
cache, a tiny randomly initialised DistilBERT student, and the dev student's export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serving_student import exported_dir

from ambig_lib.core import paths

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


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory) -> Path:
    """Randomly initialised 2-layer DistilBERT with the (uncased WordPiece) minilm vocabulary."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    from ambig_lib.models.store import resolve_model

    folder = tmp_path_factory.mktemp("tiny-distilbert")
    # minilm's own fast tokenizer (DistilBertTokenizerFast(vocab_file=...) keeps only the 5 special tokens in
    # transformers 5)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    assert len(tokenizer) > 30000
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=64)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def dev_export() -> Path:
    """The dev student's ONNX export (a briefly fine-tuned minilm, cached under ``data/cache/dev_student``),
    shared by the latency and command-line tests."""
    return exported_dir(paths.REPO_ROOT / "data" / "cache" / "dev_student" / "test-export")
