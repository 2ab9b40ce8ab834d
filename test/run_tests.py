#!/usr/bin/env python3
"""Run the whole test suite: ``python3 test/run_tests.py [pytest options]``.

Works from a fresh clone with only Python 3.10+: it creates or refreshes the
repository's ``.venv`` (runtime and test dependencies, see
``lednet_ros/_bootstrap.py``), then runs ``ruff`` and ``pytest`` there.
Exit status: 0 when everything passed, else the failing step's status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from lednet_ros._bootstrap import ensure_venv  # noqa: E402 (needs the path above)


def main() -> int:
    python = str(ensure_venv(with_tests=True))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print("== ruff check / ruff format --check", flush=True)
    lint = subprocess.run([python, "-m", "ruff", "check", "."], cwd=REPO_ROOT, env=env, check=False)
    style = subprocess.run([python, "-m", "ruff", "format", "--check", "."], cwd=REPO_ROOT, env=env, check=False)
    print("== pytest", flush=True)
    tests = subprocess.run([python, "-m", "pytest", "test", *sys.argv[1:]], cwd=REPO_ROOT, env=env, check=False)
    return lint.returncode or style.returncode or tests.returncode


if __name__ == "__main__":
    sys.exit(main())
