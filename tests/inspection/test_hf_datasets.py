"""Teacher sets as Hugging Face datasets: every set loads, a set exports (parquet + card) and reads back equal.

The hub itself is unreachable here, so ``push_dataset`` is tested up to the upload call with a recording
stand-in for ``huggingface_hub.HfApi`` (labelled below); everything before it is real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

datasets = pytest.importorskip("datasets")

from ambig_lib.cli.main import main  # noqa: E402
from ambig_lib.core.paths import tables_dir  # noqa: E402
from ambig_lib.data.teacher_sets import load_teacher_set, teacher_set_names  # noqa: E402
from ambig_lib.inspection.hf_datasets import (  # noqa: E402
    CARD_NAME,
    PARQUET_NAME,
    DatasetExportError,
    export_dataset,
    load_exported,
    push_dataset,
    teacher_dataset,
)

GENERATED = "generated/qwen2.5-coder-1.5b_seed"


def _same(dataset: Any, frame: pd.DataFrame) -> None:
    back = dataset.to_pandas()
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False)


def test_every_teacher_set_loads_as_a_dataset() -> None:
    names = teacher_set_names()
    assert len(names) >= 8 and GENERATED in names  # six published + the two committed generated sets
    for name in names:
        frame = load_teacher_set(name)
        dataset = teacher_dataset(name)
        assert isinstance(dataset, datasets.Dataset) and dataset.num_rows == len(frame)
        assert dataset.features["binary_label"].names == ["specific", "ambiguous"]
        _same(dataset, frame)


@pytest.mark.parametrize("name", ["seed/gpt-4.1", GENERATED])
def test_export_reads_back_equal_and_the_card_carries_02s_audit(name: str, tmp_path: Path) -> None:
    folder = export_dataset(name, tmp_path / "export")
    frame = load_teacher_set(name)
    assert (folder / PARQUET_NAME).is_file()
    _same(load_exported(folder), frame)
    _same(datasets.Dataset.from_parquet(str(folder / PARQUET_NAME)), frame)
    assert load_exported(folder).features == teacher_dataset(name).features  # the ClassLabel survives parquet
    card = (folder / CARD_NAME).read_text()
    assert card.startswith("---\n") and f"path: {PARQUET_NAME}" in card and "task_categories:" in card
    counts = frame["binary_label"].value_counts()
    assert f"- rows: {len(frame)} (specific, label 0: {counts[0]}; ambiguous, label 1: {counts[1]})" in card
    # the shortcut audit is 02's: the same numbers as the committed inspection table
    inspected = pd.read_csv(tables_dir() / "inspect_synthetic.csv").set_index("teacher_set").loc[name]
    assert f"| length-only CV accuracy | {round(inspected['length_only_cv_accuracy'], 3)} |" in card
    assert f"| TF-IDF CV accuracy | {round(inspected['tfidf_cv_accuracy'], 3)} |" in card
    assert "## Licence" in card and "## Citation" in card and "@misc" in card
    if name.startswith("generated/"):
        assert "license: apache-2.0" in card and "prompt style: seed" in card
        assert "teacher model SHA-256" in card and "source: `data/synthetic/" in card
    else:
        assert "license: unknown" in card and "GPT-4.1" in card and "raw.githubusercontent.com" in card


def test_cli_exports_and_refuses_unknown_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "export", GENERATED, "--out", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / CARD_NAME).is_file()
    assert main(["datasets", "export", "seed/no-such-set", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


class RecordingHfApi:
    """Stand-in for huggingface_hub.HfApi (the hub is unreachable here): records the calls push_dataset makes."""

    calls: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, token: str | None = None) -> None:
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs: Any) -> None:
        self.calls.append(("upload_folder", kwargs))


def test_push_needs_a_token_and_uploads_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = export_dataset(GENERATED, tmp_path / "export")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(DatasetExportError, match="HF_TOKEN is not set"):
        push_dataset(folder, "user/ambig")
    with pytest.raises(DatasetExportError, match="not an exported dataset folder"):
        push_dataset(tmp_path, "user/ambig", token="t")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setenv("AMBIG_OFFLINE", "1")
    with pytest.raises(DatasetExportError, match="AMBIG_OFFLINE"):
        push_dataset(folder, "user/ambig")
    monkeypatch.delenv("AMBIG_OFFLINE")
    import huggingface_hub

    RecordingHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    assert push_dataset(folder, "user/ambig") == "https://huggingface.co/datasets/user/ambig"
    kinds = [c[0] for c in RecordingHfApi.calls]
    assert kinds == ["init", "create_repo", "upload_folder"]
    assert RecordingHfApi.calls[0][1] == {"token": "hf_test"}
    assert RecordingHfApi.calls[1][1]["repo_type"] == "dataset"
    upload = RecordingHfApi.calls[2][1]
    assert upload["folder_path"] == str(folder) and upload["repo_id"] == "user/ambig" and upload["repo_type"] == "dataset"
