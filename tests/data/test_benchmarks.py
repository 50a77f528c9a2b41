"""Data layer: registry checks, resolution order, clear errors, and byte-identical evaluation sets."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from http_helpers import serving

from ambig_lib.core.errors import DataFileError
from ambig_lib.core.io import sha256_bytes, sha256_file
from ambig_lib.data import benchmarks as data
from ambig_lib.data import public_files


def test_registry_matches_mirror_checksums(mirror: Path) -> None:
    sums = dict(line.split()[::-1] for line in (mirror / "SHA256SUMS").read_text().splitlines() if line.strip())
    sums = {k.removeprefix("./"): v for k, v in sums.items()}
    assert set(sums) == set(public_files.PUBLIC_FILES)
    for key, spec in public_files.PUBLIC_FILES.items():
        assert spec.sha256 == sums[key], key
        assert spec.url.startswith("https://") and spec.licence


def test_clariq_is_byte_identical_to_published(mirror: Path) -> None:
    frame = data.load_clariq()
    assert len(frame) == 299
    assert int(frame["binary_label"].sum()) == 262
    produced = data.binary_tsv_bytes(frame)
    assert sha256_bytes(produced) == sha256_file(mirror / "seed" / "clariq_preprocessed.tsv")


def test_ambignq_is_byte_identical_to_published(mirror: Path) -> None:
    frame = data.load_ambignq("dev")
    assert len(frame) == 2002
    assert int(frame["binary_label"].sum()) == 1172
    assert sha256_bytes(data.binary_tsv_bytes(frame)) == sha256_file(mirror / "seed" / "ambignq_preprocessed.tsv")


def test_official_splits() -> None:
    sizes = {split: len(data.load_clariq(split)) for split in data.CLARIQ_SPLITS}
    assert sizes == {"train": 187, "dev": 50, "test": 62}
    train = data.load_ambignq("train")
    assert len(train) == 10036
    assert set(train["binary_label"]) == {0, 1}
    assert len(data.load_eval_set("clariq_test")) == 62


def test_unknown_names_are_clear_errors() -> None:
    with pytest.raises(DataFileError, match="Unknown evaluation set 'squad'"):
        data.load_eval_set("squad")
    with pytest.raises(DataFileError, match="Unknown ClariQ split"):
        data.load_clariq("validation")
    with pytest.raises(DataFileError, match="Unknown public file"):
        public_files.resolve_public_file("clariq/nope.tsv")


def test_mirror_file_is_used_and_cache_preferred(isolated_cache: Path, mirror: Path) -> None:
    key = "clariq/dev.tsv"
    assert public_files.resolve_public_file(key) == mirror / key
    cached = public_files.copy_to_cache(key)
    assert cached == isolated_cache / "public" / key
    assert public_files.resolve_public_file(key) == cached


def test_corrupt_mirror_file_names_file_and_fix(isolated_cache: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bad_mirror = tmp_path / "mirror"
    (bad_mirror / "clariq").mkdir(parents=True)
    (bad_mirror / "clariq" / "dev.tsv").write_text("tampered\n")
    monkeypatch.setenv("AMBIG_DATA_MIRROR", str(bad_mirror))
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    with pytest.raises(DataFileError) as info:
        public_files.resolve_public_file("clariq/dev.tsv")
    message = str(info.value)
    assert "clariq/dev.tsv" in message
    assert "SHA-256 mismatch" in message and str(bad_mirror / "clariq" / "dev.tsv") in message
    assert "AMBIG_DATA_MIRROR" in message and "Fix" in message


def test_missing_everywhere_lists_where_it_looked(isolated_cache: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIG_DATA_MIRROR", str(tmp_path / "empty"))
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    with pytest.raises(DataFileError) as info:
        public_files.resolve_public_file("ambignq/dev_light.json")
    message = str(info.value)
    assert str(isolated_cache / "public" / "ambignq" / "dev_light.json") in message
    assert "absent in mirror" in message and "download skipped" in message


@pytest.fixture
def local_http_server(tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving files from a temporary folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server):
        yield root, f"http://127.0.0.1:{server.server_address[1]}"


def test_download_extracts_zip_member_atomically(isolated_cache: Path, mirror: Path, tmp_path: Path,
                                                  local_http_server, monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = local_http_server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(mirror / "ambignq" / "dev_light.json", "ambignq_light/dev_light.json")
    (root / "ambignq_light.zip").write_bytes(buffer.getvalue())
    key = "ambignq/dev_light.json"
    monkeypatch.setitem(public_files.PUBLIC_FILES, key, replace(public_files.PUBLIC_FILES[key], url=f"{base}/ambignq_light.zip"))
    monkeypatch.setenv("AMBIG_DATA_MIRROR", str(tmp_path / "no-mirror"))
    path = public_files.resolve_public_file(key)
    assert path == isolated_cache / "public" / key
    assert sha256_file(path) == public_files.PUBLIC_FILES[key].sha256
    assert not list(path.parent.glob("*.part"))


def test_download_with_wrong_checksum_is_rejected(isolated_cache: Path, tmp_path: Path, local_http_server,
                                                  monkeypatch: pytest.MonkeyPatch, mirror: Path) -> None:
    root, base = local_http_server
    shutil.copyfile(mirror / "clariq" / "dev.tsv", root / "dev.tsv")
    (root / "dev.tsv").write_text((root / "dev.tsv").read_text() + "extra\n")
    key = "clariq/dev.tsv"
    monkeypatch.setitem(public_files.PUBLIC_FILES, key, replace(public_files.PUBLIC_FILES[key], url=f"{base}/dev.tsv"))
    monkeypatch.setenv("AMBIG_DATA_MIRROR", str(tmp_path / "no-mirror"))
    with pytest.raises(DataFileError, match="has SHA-256"):
        public_files.resolve_public_file(key)
    assert not (isolated_cache / "public" / key).exists()
