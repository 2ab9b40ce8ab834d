"""cv_bridge's ``cvtColorForDisplay``: any image as 8-bit mono or colour, for showing it.

Three cases, in cv_bridge's order (``cv_bridge/src/cv_bridge.cpp``, the
``colormap`` argument from Iron on):

1. **Label images**: a ``32SC1`` source shown as ``bgr8`` (or with the
   output left empty) gets one colour per label value, cycling through the
   146 colours of cv_bridge's ``rgb_colors`` table (label ``i`` has colour
   ``i % 146``); the background label -1 and any other negative label are
   black. Scaling arguments are ignored there, as in cv_bridge.
2. **Scaling**: with ``do_dynamic_scaling`` the range is the image's own
   minimum and maximum over its finite values (a flat image comes out mid
   grey, 128, as three channels whatever the output encoding, as in
   cv_bridge); otherwise a ``min_image_value`` != ``max_image_value``
   scales ``(value - min) * 255 / (max - min)`` to 8 bits, rounded and
   saturated. With a ``colormap`` (an OpenCV ``COLORMAP_*`` code) the 8-bit
   values go through ``cv2.applyColorMap`` and a ``32FC1`` source's NaN
   pixels are black; without one the result is grey. Then it is converted
   to the output encoding.
3. **Otherwise** the image is converted as ``imgmsg_to_cv2`` would
   (``16UC1`` taken as ``mono16``); an image already in the output
   encoding comes back as it is.

Where this differs from cv_bridge, it checks what cv_bridge assumes: the
array must fit ``encoding_in`` (cv_bridge reads whatever memory it is
given as that type), and a generic source converts to a colour output of
the same channel count (``8UC3`` to ``bgr8``) where cv_bridge refuses.

The table is CSS's named colours in alphabetical order, without
``paleturquoise`` and ``rebeccapurple``, each channel written to three
significant digits and truncated to 8 bits as cv_bridge does; two entries
differ from CSS in cv_bridge's table and are kept as it has them
(``palevioletred`` holds paleturquoise's colour, ``sandybrown``'s red is 0.98).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lednet_ros.msgs.encodings import CvBridgeError, convert, encoding_info

__all__ = ["LABEL_COLOURS", "cvtColorForDisplay"]

_CSS_HEX = (
    "f0f8fffaebd700ffff7fffd4f0fffff5f5dcffe4c4000000ffebcd0000ff8a2be2a52a2adeb8875f9ea07fff00d2691eff7f50"
    "6495edfff8dcdc143c00ffff00008b008b8bb8860ba9a9a9006400a9a9a9bdb76b8b008b556b2fff8c009932cc8b0000e9967a"
    "8fbc8f483d8b2f4f4f2f4f4f00ced19400d3ff149300bfff6969696969691e90ffb22222fffaf0228b22ff00ffdcdcdcf8f8ff"
    "ffd700daa520808080008000adff2f808080f0fff0ff69b4cd5c5c4b0082fffff0f0e68ce6e6fafff0f57cfc00fffacdadd8e6"
    "f08080e0fffffafad2d3d3d390ee90d3d3d3ffb6c1ffa07a20b2aa87cefa778899778899b0c4deffffe000ff0032cd32faf0e6"
    "ff00ff80000066cdaa0000cdba55d39370db3cb3717b68ee00fa9a48d1ccc71585191970f5fffaffe4e1ffe4b5ffdead000080"
    "fdf5e68080006b8e23ffa500ff4500da70d6eee8aa98fb98afeeeeffefd5ffdab9cd853fffc0cbdda0ddb0e0e6800080ff0000"
    "bc8f8f4169e18b4513fa8072f4a4602e8b57fff5eea0522dc0c0c087ceeb6a5acd708090708090fffafa00ff7f4682b4d2b48c"
    "008080d8bfd8ff634740e0d0ee82eef5deb3fffffff5f5f5ffff009acd32"
)
"""The 146 colours, RGB hex, in cv_bridge's order (CSS's alphabetical names, see the module docstring)."""
_SANDYBROWN = 123
_GREY = 128  # cv_bridge's 255 / 2, rounded by OpenCV's setTo


def _label_colours() -> np.ndarray:
    """146 x 3 uint8 BGR: each channel as cv_bridge holds it (three significant digits of c / 255), times 255, truncated."""
    rgb = np.frombuffer(bytes.fromhex(_CSS_HEX), np.uint8).reshape(-1, 3).tolist()
    units = [[float(f"{c / 255:.3g}") for c in colour] for colour in rgb]
    units[_SANDYBROWN][0] = 0.98  # cv_bridge's value (CSS: 244 / 255 = 0.957)
    return np.array([[math.floor(c * 255) for c in reversed(colour)] for colour in units], np.uint8)


LABEL_COLOURS = _label_colours()
"""cv_bridge's label colours, BGR: label ``i`` (``i`` >= 0) is drawn in row ``i % 146``."""


def _check_source(source: np.ndarray, encoding_in: str) -> np.ndarray:
    """The source as an array that fits ``encoding_in`` (element type and channels)."""
    if not isinstance(source, np.ndarray):
        msg = "Your input type is not a numpy array"
        raise TypeError(msg)
    info = encoding_info(encoding_in)
    channels = source.shape[2] if source.ndim == 3 else 1
    if source.ndim not in (2, 3) or source.dtype.str[1:] != info.dtype.str[1:] or channels != info.channels:
        msg = f"cvtColorForDisplay: a {source.dtype} array of shape {source.shape} is not [{encoding_in}]"
        raise CvBridgeError(msg)
    return source.astype(source.dtype.newbyteorder("=")) if not source.dtype.isnative else source


def _output_encoding(encoding_in: str, encoding_out: str) -> str:
    """The output encoding: ``bgr8`` when left empty (for 8-, 16- and 32-bit sources), else an 8-bit mono or colour one."""
    if not encoding_out:
        if encoding_info(encoding_in).dtype.itemsize == 8:
            msg = "cv_bridge.cvtColorForDisplay() output encoding is empty and cannot be guessed."
            raise CvBridgeError(msg)
        return "bgr8"
    if encoding_out not in ("mono8", "bgr8", "rgb8", "bgra8", "rgba8"):
        msg = f"cv_bridge.cvtColorForDisplay() needs an 8-bit mono or colour output encoding, not [{encoding_out}]"
        raise CvBridgeError(msg)
    return encoding_out


def _labels_to_bgr(labels: np.ndarray) -> np.ndarray:
    """Each label value its own colour (value % 146); negative values black."""
    out = LABEL_COLOURS[np.where(labels >= 0, labels, 0) % len(LABEL_COLOURS)]
    out[labels < 0] = 0
    return out


def _scale(image: np.ndarray, low: float, high: float, colormap: int) -> tuple[np.ndarray, str]:
    """(value - low) * 255 / (high - low) as 8 bits (OpenCV's saturating subtraction first), grey or coloured."""
    shifted = image.astype(np.float64) - low
    if np.issubdtype(image.dtype, np.integer):  # Mat - scalar saturates in the source type
        limits = np.iinfo(image.dtype)
        shifted = np.clip(np.rint(shifted), limits.min, limits.max)
    with np.errstate(invalid="ignore"):
        scaled = np.clip(np.rint(shifted * (255.0 / (high - low))), 0, 255)
    scaled = np.nan_to_num(scaled, nan=0.0).astype(np.uint8)  # convertTo gives 0 for NaN
    if colormap == -1:
        return scaled, "mono8"
    try:
        coloured = cv2.applyColorMap(scaled, colormap)
    except cv2.error as exc:
        msg = f"cv_bridge.cvtColorForDisplay() colormap {colormap}: {exc.err}"
        raise CvBridgeError(msg) from None
    if image.dtype == np.float32:
        coloured[np.isnan(image)] = 0
    return coloured, "bgr8"


def cvtColorForDisplay(  # noqa: N802 (cv_bridge's name)
    source: np.ndarray,
    encoding_in: str,
    encoding_out: str,
    do_dynamic_scaling: bool = False,
    min_image_value: float = 0.0,
    max_image_value: float = 0.0,
    colormap: int = -1,
) -> np.ndarray:
    """``source`` (in ``encoding_in``) as an 8-bit image in ``encoding_out`` (``""``: ``bgr8``), for display.

    See the module docstring for the three cases.

    Raises:
        TypeError: ``source`` is not a NumPy array.
        CvBridgeError: an unknown encoding, an array that does not fit
            ``encoding_in``, an output that is not 8-bit mono or colour,
            scaling of a multi-channel image, an unknown colormap, or a
            conversion cv_bridge refuses.
    """
    image = _check_source(source, encoding_in)
    encoding = _output_encoding(encoding_in, encoding_out)
    if encoding == "bgr8" and encoding_in.removeprefix("TYPE_") == "32SC1":
        return _labels_to_bgr(image)
    low, high = float(min_image_value), float(max_image_value)
    if do_dynamic_scaling:
        if image.ndim == 3:
            msg = "cv_bridge.cvtColorForDisplay() scaling for images with more than one channel is unsupported"
            raise CvBridgeError(msg)
        finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image.reshape(-1)
        finite = finite[~np.isnan(finite)] if finite.dtype.kind == "f" else finite
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if low == high:
            return np.full((*image.shape[:2], 3), _GREY, np.uint8)
    if low != high:
        if image.ndim == 3:
            msg = "cv_bridge.cvtColorForDisplay() scaling for images with more than one channel is unsupported"
            raise CvBridgeError(msg)
        scaled, scaled_encoding = _scale(image, low, high, colormap)
        return scaled if scaled_encoding == encoding else convert(scaled, scaled_encoding, encoding)
    typed = "mono16" if encoding_in == "16UC1" else encoding_in
    if typed == encoding:
        return image
    try:
        return convert(image, typed, encoding)
    except CvBridgeError as exc:
        msg = f"cv_bridge.cvtColorForDisplay() while trying to convert image from '{encoding_in}' to '{encoding}' an exception was thrown ({exc})"
        raise CvBridgeError(msg) from None
