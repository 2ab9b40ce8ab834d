"""How large an image may be before anything is allocated for it: one rule for frames, files, depth and models.

An image message or file says its size in a few header bytes, and a hostile
or broken one can say anything. Every path that turns such a size into
memory (decoding a compressed frame, a raw or depth ``Image``, an image file,
a warm-up size, the model size) asks :func:`check_image_size` first, so a
size that would take gigabytes is refused with its reason before a single
buffer exists.

Besides the pixel count (``max_input_pixels``, a parameter), two fixed limits
hold because the engine's resizing misbehaves beyond them: a side over
:data:`MAX_SIDE` and an aspect ratio over :data:`MAX_ASPECT`. A 1 x 8294400
image is within 3840 x 2160 pixels, but resizing it antialiased to the
model's 1024 x 512 asked PyTorch for 51 GB (issue 17).
"""

from __future__ import annotations

from lednet_ros.errors import ImageEncodingError, ImageTooLargeError, LednetError

__all__ = [
    "ASPECT_FREE_SIDE",
    "DEFAULT_MAX_PIXELS",
    "MAX_ASPECT",
    "MAX_MODEL_PIXELS",
    "MAX_SIDE",
    "check_image_size",
    "check_model_size",
]

DEFAULT_MAX_PIXELS = 3840 * 2160
"""``max_input_pixels`` unless set: a 4K UHD frame."""

MAX_SIDE = 16384
"""The longest side accepted, whatever the pixel limit."""

MAX_ASPECT = 16
"""The longest side may be at most this many times the shortest (once it is over :data:`ASPECT_FREE_SIDE`)."""

ASPECT_FREE_SIDE = 1024
"""Images whose longest side is at most this are accepted at any aspect ratio: a 1 x 1024 strip costs nothing."""

MAX_MODEL_PIXELS = 4096 * 2048
"""The largest model input (width x height): 8 times the paper's 1024 x 512, several seconds a frame on a CPU."""


def check_image_size(width: int, height: int, max_pixels: int | None, what: str = "image") -> None:
    """Refuse a ``width`` x ``height`` that is empty, or beyond the pixel, side or aspect limits.

    ``max_pixels`` None skips the pixel count (the side and aspect limits
    still hold). The message names ``what`` and the limit it breaks, so the
    node's counter and log say why a frame was dropped.

    Raises:
        ImageEncodingError: an empty size.
        ImageTooLargeError: the first limit broken.
    """
    if width <= 0 or height <= 0:
        msg = f"empty {what} ({width}x{height})"
        raise ImageEncodingError(msg)
    if max_pixels is not None and width * height > max_pixels:
        msg = f"{what} {width}x{height} = {width * height} pixels is more than max_input_pixels = {max_pixels}"
        raise ImageTooLargeError(msg)
    if max(width, height) > MAX_SIDE:
        msg = f"{what} {width}x{height} has a side over {MAX_SIDE} pixels"
        raise ImageTooLargeError(msg)
    if max(width, height) > max(ASPECT_FREE_SIDE, MAX_ASPECT * min(width, height)):
        msg = f"{what} {width}x{height} has an aspect ratio over {MAX_ASPECT}:1"
        raise ImageTooLargeError(msg)


def check_model_size(width: int, height: int) -> None:
    """Refuse a model input size beyond :data:`MAX_MODEL_PIXELS` or the aspect limit, before anything is built.

    8192 x 8192 was accepted and spent 32 s allocating before it failed (issue 17).

    Raises:
        LednetError: the size and the limit it breaks.
    """
    if width * height > MAX_MODEL_PIXELS:
        msg = (
            f"model size {width}x{height} = {width * height} pixels is more than the limit of {MAX_MODEL_PIXELS} "
            f"(4096x2048)"
        )
        raise LednetError(msg)
    if max(width, height) > MAX_ASPECT * min(width, height):
        msg = f"model size {width}x{height} has an aspect ratio over {MAX_ASPECT}:1"
        raise LednetError(msg)
