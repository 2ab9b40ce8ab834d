"""Remove the shared-memory files that Fast DDS participants of killed processes leave in ``/dev/shm``.

Fast DDS unlinks a participant's segment when the process exits, but not when
it is killed (SIGKILL, as several tests do to nodes, ``ros2`` sessions and Ray
workers). With the large-image profile every segment is 64 MB of tmpfs, that
is of RAM: one suite run left some 40 of them (2.9 GB) and a day of runs 17 GB.
A live owner holds an ``flock`` on the segment's ``<name>_el`` file (this is
what ``fastdds shm clean`` tests too), so a file whose lock can be taken has
no owner left and goes, with its segment and its port mutex.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

SHM = Path("/dev/shm")


def remove_zombie_fastdds_segments(folder: Path = SHM) -> int:
    """Unlink every Fast DDS segment or port in ``folder`` whose owner is gone; how many were removed."""
    removed = 0
    for lock in folder.glob("fastrtps_*_el"):
        try:
            descriptor = os.open(lock, os.O_RDWR)
        except OSError:
            continue  # gone meanwhile
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue  # a live participant holds it
        try:
            name = lock.name.removesuffix("_el")
            for path in (folder / name, lock, folder / f"sem.{name}_mutex"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed += 1
        finally:
            os.close(descriptor)
    return removed
