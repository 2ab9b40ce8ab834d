"""Locate the files the package ships: ``config/`` and ``weights/``.

The same code runs from three kinds of installation, and each puts the shared
files somewhere else:

* ``colcon build`` installs them to ``<prefix>/share/lednet_ros`` and registers
  the package in the ament index;
* ``pip install -e .`` (the repository's ``.venv``) leaves them in the source
  tree, next to the ``lednet_ros/`` package directory;
* a plain ``pip install .`` copies them to ``<sys.prefix>/share/lednet_ros``.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["PACKAGE_NAME", "config_file", "share_directory", "weights_directory"]

PACKAGE_NAME = "lednet_ros"


def _ament_share() -> Path | None:
    try:
        from ament_index_python.packages import (  # noqa: PLC0415 (optional on non-ROS installs)
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE_NAME))
    except (PackageNotFoundError, ValueError, LookupError, OSError):
        # OSError: AMENT_PREFIX_PATH unset (no ROS environment sourced).
        return None


def share_directory() -> Path:
    """Return the directory that holds ``config/`` and ``weights/``.

    Raises:
        FileNotFoundError: none of the known installation layouts has them.
    """
    source_tree = Path(__file__).resolve().parent.parent  # editable install / checkout
    searched: list[Path] = []
    lookups = (lambda: source_tree, _ament_share, lambda: Path(sys.prefix) / "share" / PACKAGE_NAME)
    for lookup in lookups:
        candidate = lookup()
        if candidate is None:
            continue
        if (candidate / "config" / "cityscapes.yaml").is_file():
            return candidate
        searched.append(candidate)
    msg = (
        f"cannot find the {PACKAGE_NAME} share directory (config/, weights/); looked in {', '.join(map(str, searched))}"
    )
    raise FileNotFoundError(msg)


def config_file(name: str) -> Path:
    """Path of a file in the shipped ``config/`` directory."""
    return share_directory() / "config" / name


def weights_directory() -> Path:
    """The shipped ``weights/`` directory."""
    return share_directory() / "weights"
