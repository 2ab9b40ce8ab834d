"""Create and refresh the repository's ``.venv`` using only the standard library.

``python3 -m lednet_ros ...`` and ``python3 test/run_tests.py`` call into this
module before anything else is imported. In a source checkout without the
dependencies, it builds ``.venv/`` at the repository root (pinned ROS 2 Jazzy
runtime wheels from PyPI, torch, OpenCV, NumPy, rosbags, and this package in
editable mode, as listed in ``setup.py``'s ``venv`` and ``test`` extras) and
re-runs the command inside it. A stamp file records what was installed, so
a changed ``setup.py`` triggers a re-install and an unchanged one costs nothing.

On a robot with a system ROS 2 install nothing here runs: the dependencies
import, and the command proceeds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO_ROOT", "VENV_DIR", "ensure_dependencies", "ensure_venv", "venv_python"]

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".venv"
_STAMP = VENV_DIR / ".lednet_ros-installed"
_CORE_MODULES = ("numpy", "torch", "cv2", "yaml", "tqdm")
NO_DEPS_TEST_PACKAGES = ("pytorchcv==0.0.74",)
"""Installed with ``--no-deps``: pytorchcv asks for torchvision, which the tests do not use."""


def _say(text: str) -> None:
    print(f"[lednet_ros setup] {text}", file=sys.stderr, flush=True)


def _missing_modules() -> list[str]:
    return [name for name in _CORE_MODULES if importlib.util.find_spec(name) is None]


def venv_python() -> Path:
    """The interpreter of the repository's virtual environment."""
    return VENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _has_pip(python: Path) -> bool:
    probe = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, check=False)
    return probe.returncode == 0


def _run(command: list[str]) -> None:
    _say("$ " + " ".join(command))
    result = subprocess.run(command, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        _say(f"command failed with exit code {result.returncode}; see the output above")
        raise SystemExit(1)


def _fingerprint(with_tests: bool) -> str:
    digest = hashlib.sha256()
    digest.update((REPO_ROOT / "setup.py").read_bytes())
    digest.update(repr((NO_DEPS_TEST_PACKAGES if with_tests else (), sys.version_info[:2])).encode())
    return ("test-" if with_tests else "runtime-") + digest.hexdigest()[:16]


def _installed() -> set[str]:
    try:
        return set(_STAMP.read_text(encoding="utf-8").split())
    except OSError:
        return set()


def ensure_venv(*, with_tests: bool = False) -> Path:
    """Create ``.venv`` if needed and install what ``setup.py`` pins; return its python.

    Raises:
        SystemExit: venv creation or an install step failed (the reason is printed).
    """
    python = venv_python()
    wanted = {_fingerprint(with_tests=False)} | ({_fingerprint(with_tests=True)} if with_tests else set())
    have = _installed()
    if python.exists() and wanted <= have:
        return python
    if python.exists() and not _has_pip(python):
        # A venv without pip is what an earlier failed set-up (no python3-venv) leaves behind.
        _say(f"{VENV_DIR} has no working pip (an earlier set-up failed?): recreating it")
        shutil.rmtree(VENV_DIR)
        have = set()
    if not python.exists():
        _say(f"creating the virtual environment {VENV_DIR} (one time, a few minutes)")
        created = subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=False)
        if created.returncode != 0 or not _has_pip(python):
            shutil.rmtree(VENV_DIR, ignore_errors=True)
            _say("'python3 -m venv' failed; on Debian/Ubuntu install it with: sudo apt-get install python3-venv")
            raise SystemExit(1)
    extras = "venv,test" if with_tests else "venv"
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-e", f".[{extras}]"])
    if with_tests:
        _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", *NO_DEPS_TEST_PACKAGES])
    _STAMP.write_text("\n".join(sorted(wanted | have)) + "\n", encoding="utf-8")
    _say(f"environment ready: {VENV_DIR}")
    return python


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def ensure_dependencies() -> None:
    """Return if the dependencies import; else set up ``.venv`` and re-run there.

    Outside a source checkout (an installed package) a missing dependency is
    reported with the command that installs it.
    """
    missing = _missing_modules()
    if not missing:
        return
    if _in_venv() or not (REPO_ROOT / "setup.py").is_file():
        print(
            f"lednet-ros: error: missing Python modules: {', '.join(missing)}. "
            "On a robot: rosdep install --from-paths src --ignore-src -y && pip install torch; "
            "from a checkout: python3 -m lednet_ros demo (creates .venv)",
            file=sys.stderr,
        )
        raise SystemExit(1)
    python = ensure_venv()
    os.execv(str(python), [str(python), "-m", "lednet_ros", *sys.argv[1:]])
