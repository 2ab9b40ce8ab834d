"""The stdlib-only set-up behind the README's commands (creating .venv is mocked only at the pip step)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lednet_ros import _bootstrap


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    (tmp_path / "setup.py").write_text("# pins v1\n")
    monkeypatch.setattr(_bootstrap, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(_bootstrap, "VENV_DIR", tmp_path / ".venv")
    monkeypatch.setattr(_bootstrap, "_STAMP", tmp_path / ".venv" / ".lednet_ros-installed")
    commands: list[list[str]] = []
    monkeypatch.setattr(_bootstrap, "_run", commands.append)  # record pip installs instead of downloading
    return commands


def test_creates_the_venv_installs_once_and_again_when_setup_py_changes(
    fake_repo: list[list[str]], tmp_path: Path
) -> None:
    python = _bootstrap.ensure_venv(with_tests=True)
    assert python == tmp_path / ".venv" / "bin" / "python" and python.exists()
    assert any("-e" in c and ".[venv,test]" in c for c in fake_repo)
    assert any("--no-deps" in c and "pytorchcv==0.0.74" in c for c in fake_repo)
    fake_repo.clear()
    _bootstrap.ensure_venv(with_tests=True)
    _bootstrap.ensure_venv()
    assert fake_repo == [], "an up-to-date environment installs nothing"
    (tmp_path / "setup.py").write_text("# pins v2\n")
    _bootstrap.ensure_venv()
    assert any(".[venv]" in c for c in fake_repo)


def test_a_venv_left_without_pip_is_recreated(fake_repo: list[list[str]], tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    assert not _bootstrap._has_pip(tmp_path / ".venv" / "bin" / "python")
    python = _bootstrap.ensure_venv()
    assert _bootstrap._has_pip(python)
    assert any(".[venv]" in c for c in fake_repo)
