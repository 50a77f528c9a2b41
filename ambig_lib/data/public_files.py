"""Public data files: the registry (canonical URL, SHA-256, licence) and verified resolution.

``resolve_public_file`` returns a verified local path: cache -> mirror (``AMBIG_DATA_MIRROR``) -> download.
"""


import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm.auto import tqdm

from ambig_lib.core import paths
from ambig_lib.core.errors import DataFileError
from ambig_lib.core.io import atomic_path, sha256_file

CLARIQ_COMMIT = "46885a544581a0af8aff0681d29e4971807e2912"
SEED_COMMIT = "ad722fdeb69215b9c835a8370382d2cdb802650e"
CLARIQ_URL = f"https://raw.githubusercontent.com/aliannejadi/ClariQ/{CLARIQ_COMMIT}/data/{{}}"
SEED_URL = f"https://raw.githubusercontent.com/billycychan/wiser-ambiguity-clarification/{SEED_COMMIT}/data/{{}}"
AMBIGNQ_ZIP_URL = "https://nlp.cs.washington.edu/ambigqa/data/ambignq_light.zip"
CLAMBER_COMMIT = "26ab703196cb3636e1238db33f765b0b83737e5b"
CLAMBER_URL = f"https://raw.githubusercontent.com/zt991211/CLAMBER/{CLAMBER_COMMIT}/clamber_benchmark.jsonl"
ZEFCNP_COMMIT = "5f2202ba2c125d6c40fd957447793be522061e1f"
ZEFCNP_URL = f"https://raw.githubusercontent.com/lulili0963/Zef-CNP/{ZEFCNP_COMMIT}/generated_data/{{}}"


@dataclass(frozen=True)
class PublicFile:
    """One public file: its key (path relative to a mirror), where it comes from, and its checksum."""

    key: str
    url: str
    sha256: str
    licence: str
    archive_member: str | None = None  # set when ``url`` is a zip holding this file


def _seed(name: str, sha: str) -> PublicFile:
    return PublicFile(f"seed/{name}", SEED_URL.format(name), sha, "none stated (published study repository)")


_CLARIQ_LICENCE = "none stated; cite Aliannejadi et al. 2020/2021"
_AMBIGNQ_LICENCE = "CC BY-SA 3.0"

PUBLIC_FILES: dict[str, PublicFile] = {
    f.key: f
    for f in [
        PublicFile("clariq/train.tsv", CLARIQ_URL.format("train.tsv"),
                   "65d3da13b2d6ea77e7eaa45290894ffc162a5bd000e7640decd1b0a272a6e9d1", _CLARIQ_LICENCE),
        PublicFile("clariq/dev.tsv", CLARIQ_URL.format("dev.tsv"),
                   "68d2a5f87eab73721979b5f45f64099a9b2f080db1d0ce4b979d9daa4249906e", _CLARIQ_LICENCE),
        PublicFile("clariq/test_with_labels.tsv", CLARIQ_URL.format("test_with_labels.tsv"),
                   "792fb25a3f258e96b6957490faae13dc2ab9926a0d23345b12ab4b925eb02b58", _CLARIQ_LICENCE),
        PublicFile("ambignq/dev_light.json", AMBIGNQ_ZIP_URL,
                   "6e8b69a556843bac9836444ab247adceda5168e5118aec3afefe93936533a493", _AMBIGNQ_LICENCE,
                   archive_member="dev_light.json"),
        PublicFile("ambignq/train_light.json", AMBIGNQ_ZIP_URL,
                   "c9c34bea8d41cc97bf66e9161fa5fcc771eff91bb7e031894ece3ea7964da1b0", _AMBIGNQ_LICENCE,
                   archive_member="train_light.json"),
        _seed("Llama-3.3-70B-Instruct_balanced_strict.tsv",
              "f7b4c50c48a6c03d0b9874580ada22dc63235d40ac8cbe6c25af3b3a34313987"),
        _seed("gemma-3-27b-it_balanced_strict.tsv",
              "1c1e17a00889a5c616cf342d0bc0f74eca7e44efdf320bb2093413f5edf9a30c"),
        _seed("gpt_4_1_balanced_strict.tsv", "aa9fdc1adafd765f482dbac303b3c51c03ffd5cb65fbd68f5d2f273c55f2d397"),
        _seed("gpt_4_1_mini_balanced_strict.tsv",
              "afbf769131ece04b697ec5949c8feb42291f31313c1c3b7c02020bcb6d8985f5"),
        _seed("gpt_4_1_nano_balanced_strict.tsv",
              "96e31aab520024f38aaa472d51aa5713904d337ac3198f1353dbe55a04fbe9fb"),
        _seed("llama31_8b_balanced_strict.tsv", "b2b28a1aa1ff4501aa631d3fa957bfa710f98a5a793ceb7f74d59948ee96c4e2"),
        _seed("clariq_preprocessed.tsv", "6239ea3a0ca369d564c404ed8c2e4b9645e07ee2d9ea15180ea6b44f49911e1b"),
        _seed("ambignq_preprocessed.tsv", "9fd3fba6323c5e251571f4dbe981a1d85b7b7b258b0f4f52dd92e8eff8f8ee98"),
        PublicFile("clamber/clamber_benchmark.jsonl", CLAMBER_URL,
                   "58b195515fca3692c6756fc5242983461659c2f9a7f366b509f16b4cbe917fe0",
                   "none stated; cite Zhang et al., CLAMBER, ACL 2024"),
        PublicFile("zefcnp/gpt4o_topic_in_generation_5k_unique_final.csv",
                   ZEFCNP_URL.format("gpt4o_topic_in_generation_5k_unique_final.csv"),
                   "277756bd46a36cdf6139a3992e0d81811fe295f6cd5526a5dd0b2db6ce742857",
                   "none stated; cite Zef-CNP, ECIR 2025"),
        PublicFile("zefcnp/llama3.1_topic_in_generation_unique_5k_final.csv",
                   ZEFCNP_URL.format("llama3.1_topic_in_generation_unique_5k_final.csv"),
                   "b0336a2e20c51182d82b6c2ec2b519893b883d934e60ceb114f16b3be4ec4d80",
                   "none stated; cite Zef-CNP, ECIR 2025"),
    ]
}

_FIX_HINT = (
    "Fix: set AMBIG_DATA_MIRROR to a directory laid out like shared/mirror (e.g. export "
    "AMBIG_DATA_MIRROR=../shared/mirror), or run on a machine that reaches {url}, "
    "or delete the bad copy so it is fetched again."
)


def public_cache_dir() -> Path:
    return paths.cache_dir() / "public"


def _verified(path: Path, spec: PublicFile) -> bool:
    return path.is_file() and sha256_file(path) == spec.sha256


def resolve_public_file(key: str) -> Path:
    """Return a local, SHA-256-verified copy of a registered public file.

    Order: cache under ``data/cache/public`` -> ``$AMBIG_DATA_MIRROR`` -> download (unless offline).
    """
    if key not in PUBLIC_FILES:
        raise DataFileError(f"Unknown public file {key!r}. Registered files: {', '.join(sorted(PUBLIC_FILES))}.")
    spec = PUBLIC_FILES[key]
    looked: list[str] = []
    cached = public_cache_dir() / key
    if cached.exists():
        if _verified(cached, spec):
            return cached
        looked.append(f"{cached} (SHA-256 mismatch: expected {spec.sha256})")
    else:
        looked.append(f"{cached} (absent)")
    mirror = paths.mirror_dir()
    if mirror is not None:
        candidate = mirror / key
        if candidate.exists():
            if _verified(candidate, spec):
                return candidate
            looked.append(f"{candidate} (SHA-256 mismatch: got {sha256_file(candidate)}, expected {spec.sha256})")
        else:
            looked.append(f"{candidate} (absent in mirror {paths.MIRROR_ENV}={mirror})")
    else:
        looked.append(f"no mirror ({paths.MIRROR_ENV} is not set)")
    if paths.offline():
        looked.append(f"download skipped ({paths.OFFLINE_ENV}=1)")
    else:
        try:
            _download(spec, cached)
        except (requests.RequestException, OSError, zipfile.BadZipFile, KeyError) as exc:
            looked.append(f"download from {spec.url} failed: {exc.__class__.__name__}: {exc}")
        else:
            if _verified(cached, spec):
                return cached
            got = sha256_file(cached)
            cached.unlink()
            looked.append(f"download from {spec.url} has SHA-256 {got}, expected {spec.sha256}")
    raise DataFileError(
        f"Cannot obtain public file {key!r}. Looked in:\n  - " + "\n  - ".join(looked) + "\n"
        + _FIX_HINT.format(url=spec.url)
    )


def _fetch(url: str) -> bytes:
    with requests.get(url, stream=True, timeout=30) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        buffer = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {url.rsplit('/', 1)[-1]}") as bar:
            for chunk in response.iter_content(1 << 16):
                buffer.write(chunk)
                bar.update(len(chunk))
        return buffer.getvalue()


def _download(spec: PublicFile, target: Path) -> None:
    payload = _fetch(spec.url)
    if spec.archive_member is not None:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = {Path(n).name: n for n in archive.namelist()}
            payload = archive.read(names[spec.archive_member])
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)


def copy_to_cache(key: str) -> Path:
    """Copy a resolved file into the cache (used to pre-seed an offline machine)."""
    source = resolve_public_file(key)
    target = public_cache_dir() / key
    if source != target:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return target
