"""Exceptions raised by lednet_ros, one per subsystem.

Every error carries a complete, human-readable message (which file, which
value, what was expected) so that command-line tools and the node can print
``str(error)`` as a single line and exit, without a traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ClassConfigError",
    "ImageEncodingError",
    "ImageTooLargeError",
    "LednetError",
]


class LednetError(Exception):
    """Base class of every error lednet_ros raises on purpose."""


class CheckpointError(LednetError):
    """A weights file is missing, unreadable, truncated or does not fit the model."""


class ClassConfigError(LednetError):
    """A class configuration (names, colours, ignore id) file is invalid."""


class ImageEncodingError(LednetError):
    """An image cannot be converted: unsupported encoding, wrong size or layout."""


class ImageTooLargeError(ImageEncodingError):
    """An image breaks the frame limits (pixels, side, aspect); known from its header, before decoding.

    Its own class so that a tool can count a skipped oversized frame apart from a corrupt one.
    """
