"""image_transport's ``compressed`` subscriber rules, restated for the tests (compressed_subscriber.cpp, rolling).

Decode with ``cv2.imdecode(IMREAD_UNCHANGED)``; the encoding is the
``format`` up to ``;`` (no ``;``: mono8 or bgr8 by the channel count); for a
colour encoding, ``compressed bgr`` in the rest means the pixels are BGR
and are turned back into the encoding's order (``rgb8`` by BGR2RGB), else
they are RGB; a JPEG of a 16-bit encoding is multiplied by 256.
"""

from __future__ import annotations

import cv2
import numpy as np

COLOUR = {"rgb8", "bgr8", "rgb16", "bgr16"}


def decode_like_compressed_subscriber(format_field: str, data: bytes) -> tuple[str, np.ndarray]:
    """(encoding, pixels) as the plugin's subscriber hands them on."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"OpenCV cannot decode a {format_field!r} frame"
    encoding, separator, rest = format_field.partition(";")
    if not separator:
        return ("mono8" if image.ndim == 2 else "bgr8"), image
    if encoding in COLOUR:  # three-channel colour here: the outputs under test
        from_bgr = "compressed bgr" in rest
        if encoding.startswith("rgb") == from_bgr:  # rgb from BGR pixels, or bgr from RGB pixels: swap
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if "jpeg" in format_field and encoding.endswith("16"):
        image = image.astype(np.uint16) * 256
    return encoding, image
