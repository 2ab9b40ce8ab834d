"""Which DDS transport settings keep camera-sized frames on one machine, and when to apply them.

Fast DDS's built-in shared-memory transport has 0.5 MB segments. A larger
message (a 640x480 rgb8 frame is 0.9 MB) goes over UDP loopback in 64 KB
fragments instead, and a best-effort reader that is busy loses whole frames
when the kernel's socket buffer overflows. ``config/fastdds_large_images.xml``
gives each participant a 64 MB segment.

Measured on this project's 2-core machines (60 best-effort frames at 30 Hz,
one publishing and one subscribing process; ``benchmarks/README.md``): the
profile on the **writer** alone delivered 60 of 60 at 640x480 and 1280x720;
on the reader alone 27 and 22 of 60, the same as on neither (26 and 11). A
Fast DDS writer puts the sample into its own segment and hands the reader a
reference, so the writer's segment size decides; the reader only needs the
shared-memory transport, which Fast DDS enables by default. The node writes
too (its outputs), so the tools give the profile to both sides, and a camera
driver started elsewhere needs it for its frames to reach the node.

No rclpy here: the launch file and the tools apply these rules before any
participant is created, since Fast DDS reads the variables only then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from lednet_ros.resources import share_directory

__all__ = [
    "FAST_DDS_RMWS",
    "LARGE_IMAGES_PROFILE",
    "PROFILE_VARIABLES",
    "apply_large_image_profile",
    "large_image_environment",
    "large_image_profile",
    "profile_environment",
]

LARGE_IMAGES_PROFILE = "config/fastdds_large_images.xml"
"""Inside the package's share directory: the Fast DDS profile for camera-sized frames."""
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
"""Fast DDS 2 (Humble, Jazzy) reads the first, Fast DDS 3 (Kilted and later) the second: both are set."""
FAST_DDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
"""``RMW_IMPLEMENTATION`` values that mean Fast DDS (unset is Fast DDS on Humble to Kilted)."""


def large_image_profile(share: Path | None = None) -> Path:
    """The profile file in ``share`` (default: this installation's share directory)."""
    return (share or share_directory()) / LARGE_IMAGES_PROFILE


def profile_environment(profile: Path) -> dict[str, str]:
    """The variables that make Fast DDS 2 and 3 read ``profile``."""
    return dict.fromkeys(PROFILE_VARIABLES, str(profile))


def large_image_environment(environ: Mapping[str, str], profile: Path) -> dict[str, str]:
    """The variables to add so that a process started with ``environ`` uses ``profile``; empty when not ours to set.

    Nothing is added when the user already chose a profile file (either name)
    or runs another RMW (Cyclone DDS, Zenoh): their settings win.
    """
    if any(environ.get(name) for name in PROFILE_VARIABLES):
        return {}
    if environ.get("RMW_IMPLEMENTATION", "") not in FAST_DDS_RMWS:
        return {}
    return profile_environment(profile)


def apply_large_image_profile(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply :func:`large_image_environment` to ``environ`` (default: this process's); returns what was added.

    Call it before ``rclpy.init``; processes started afterwards inherit it.
    """
    target = os.environ if environ is None else environ
    added = large_image_environment(target, large_image_profile())
    target.update(added)
    return added
