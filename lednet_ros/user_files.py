"""Reading a small file a user names (YAML, JSON) without trusting its kind, size or content.

``class_config:=/dev/zero`` read until ``MemoryError`` (25 s and a
traceback), and a 1 KB "billion laughs" YAML of nested aliases kept the node
at 100% CPU, growing 65 MB/s, for as long as anyone waited (issue 17). So a
user's file is opened without blocking (a FIFO would hang ``open``), must be
a regular file no larger than a limit, and YAML may not use aliases: this
project's files never need them, and refusing them bounds the parsed data
by the file's size. Nesting is bounded as well, since PyYAML composes
recursively and a deep one ended in ``RecursionError``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from lednet_ros.errors import LednetError

__all__ = ["MAX_CONFIG_BYTES", "MAX_NESTING", "check_yaml_text", "load_yaml", "read_user_file"]

MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (1 MiB; the shipped class config is 2 KB)."""

MAX_NESTING = 64
"""The deepest nesting of YAML collections accepted."""


def read_user_file(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of ``path``, refused unless it is a regular file of at most ``max_bytes``.

    Raises:
        LednetError: missing or unreadable, not a regular file (a device, a
            FIFO, a folder), or too large; ``what`` names the file's role.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        msg = f"{path}: cannot read {what} ({exc.strerror or exc})"
        raise LednetError(msg) from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):  # checked before fdopen, which refuses a folder with its own error
        os.close(descriptor)
        msg = f"{path}: {what} is not a regular file"
        raise LednetError(msg)
    with os.fdopen(descriptor, "rb") as stream:
        if info.st_size > max_bytes:
            msg = f"{path}: {what} is {info.st_size} bytes, more than the limit of {max_bytes}"
            raise LednetError(msg)
        try:
            data = stream.read(max_bytes + 1)  # a file that grows while read stops here too
        except OSError as exc:
            msg = f"{path}: cannot read {what} ({exc.strerror or exc})"
            raise LednetError(msg) from None
    if len(data) > max_bytes:
        msg = f"{path}: {what} is more than the limit of {max_bytes} bytes"
        raise LednetError(msg)
    return data


def check_yaml_text(text: str, source: str) -> None:
    """Refuse YAML with aliases or nesting deeper than :data:`MAX_NESTING`, by its event stream (linear, builds nothing).

    For YAML that another library parses (a bag's ``metadata.yaml`` through
    rosbags): checked here first, it cannot expand there.

    Raises:
        LednetError: an alias, too deep, or not YAML; ``source`` names it.
    """
    import yaml  # noqa: PLC0415 (keep module import cheap)

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                msg = f"{source}: YAML aliases (*{event.anchor}) are not accepted"
                raise LednetError(msg)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    msg = f"{source}: YAML nested deeper than {MAX_NESTING} levels"
                    raise LednetError(msg)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        msg = f"{source}: not valid YAML ({' '.join(str(exc).split())})"
        raise LednetError(msg) from None


def load_yaml(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """A user's YAML file, read within the limits of :func:`read_user_file` and :func:`check_yaml_text`.

    Raises:
        LednetError: the file or its YAML is refused (one line: which file, why).
    """
    import yaml  # noqa: PLC0415

    source = str(Path(path))
    try:
        text = read_user_file(path, what, max_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{source}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise LednetError(msg) from None
    check_yaml_text(text, source)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{source}: not valid YAML ({' '.join(str(exc).split())})"
        raise LednetError(msg) from None
