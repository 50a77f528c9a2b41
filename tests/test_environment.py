"""environment.yml and pyproject.toml describe the same environment; torch stays pinned to the CPU build."""

from __future__ import annotations

import tomllib
import yaml

from ambig_lib.core import paths


def _pyproject() -> dict:
    return tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject() -> None:
    project = _pyproject()["project"]
    wanted = sorted(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((paths.REPO_ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1
    assert sorted(pip_lists[0]) == wanted


def test_torch_pinned_and_vllm_optional() -> None:
    project = _pyproject()["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert not any(d.startswith("vllm") for d in project["dependencies"])
    assert any(d.startswith("vllm") for d in project["optional-dependencies"]["vllm"])
