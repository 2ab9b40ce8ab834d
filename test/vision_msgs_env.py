"""``vision_msgs`` for the tests: a ROS 2 install's, else ``../shared/vision_msgs`` beside the repository.

vision_msgs has no wheel on PyPI. ``../shared/vision_msgs`` holds the Jazzy
release built for the ``.venv``'s ``ros-jazzy-*`` wheels. rosidl loads its
typesupport libraries by bare file name through the ``LD_LIBRARY_PATH`` a
process started with, so the processes that publish or subscribe LabelInfo
(the node, a checking process, ``ros2 topic echo``) are started with
:func:`environment`; the test process itself never imports vision_msgs.

CI has ``../shared``, so these tests fail there rather than skip when it is
missing; elsewhere, without either, they fail with the reason.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_VISION_MSGS = REPO.parent / "shared" / "vision_msgs"


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with vision_msgs importable and usable over DDS."""
    env = dict(os.environ if base is None else base)
    if importlib.util.find_spec("vision_msgs") is not None:
        return env  # a sourced ROS 2 install: already on every path
    site = next(SHARED_VISION_MSGS.glob("lib/python3*/site-packages"), None)
    if site is None:
        pytest.fail(
            f"needs vision_msgs: neither a ROS 2 install with ros-$ROS_DISTRO-vision-msgs nor {SHARED_VISION_MSGS}"
        )
    for name, path in (("PYTHONPATH", site), ("LD_LIBRARY_PATH", SHARED_VISION_MSGS / "lib"),
                       ("AMENT_PREFIX_PATH", SHARED_VISION_MSGS)):  # fmt: skip
        env[name] = os.pathsep.join([str(path), *filter(None, [env.get(name)])])
    return env
