"""Output images as ``sensor_msgs/CompressedImage`` fields, written as image_transport's ``compressed`` plugin writes them.

So that the plugin's subscriber (rviz2, rqt_image_view, ``republish``) and
Foxglove decode them (``compressed_image_transport``, ``compressed_publisher.cpp``):

* ``format`` is ``"<encoding>; jpeg compressed bgr8"`` for a colour image as
  JPEG (``"...; jpeg compressed mono8"`` for grey), ``"<encoding>; png
  compressed bgr8"`` for a colour image as PNG (``bgr16`` for 16-bit), and
  ``"<encoding>; png compressed "`` (with the trailing space) for a grey
  image as PNG, which the plugin stores unconverted;
* the pixels are what OpenCV encodes from the converted image: BGR for
  colour, grey as it is; the subscriber turns BGR back into ``rgb8`` by the
  ``compressed bgr`` in the format;
* JPEG at ``jpeg_quality`` (the plugin's default 95), PNG at ``png_level``
  (its default 3, OpenCV's).

Grey outputs (labels, confidence) are always PNG, which is lossless: a
decoded label image equals the raw one. Colour outputs (colour, overlay)
are JPEG unless PNG is asked for (:func:`codec_for`).
"""

from __future__ import annotations

import array
from typing import Literal

import cv2
import numpy as np

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.encodings import CvBridgeError, convert, encoding_info

__all__ = [
    "COLOUR_FORMATS",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_PNG_LEVEL",
    "codec_for",
    "compressed_format_string",
    "encode_compressed_output",
]

Codec = Literal["jpeg", "png"]

COLOUR_FORMATS: tuple[Codec, ...] = ("jpeg", "png")
"""The codecs a colour output may use (the plugin's ``format`` values, bar tiff)."""

DEFAULT_JPEG_QUALITY = 95
"""The plugin's ``jpeg_quality`` default (1 to 100)."""

DEFAULT_PNG_LEVEL = 3
"""The plugin's ``png_level`` default (0 to 9)."""

_COLOUR_LAYOUTS = ("RGB", "BGR", "RGBA", "BGRA")


def _is_colour(encoding: str) -> bool:
    """image_transport's ``isColor``: rgb/bgr/rgba/bgra, 8 or 16 bit."""
    return encoding_info(encoding).layout in _COLOUR_LAYOUTS


def codec_for(encoding: str, colour_format: Codec) -> Codec:
    """PNG for grey images (lossless labels and confidence); ``colour_format`` for colour ones."""
    return colour_format if _is_colour(encoding) else "png"


def _target(encoding: str, codec: Codec) -> str:
    """The encoding the plugin converts to before encoding ('' for a grey PNG: stored as it is)."""
    depth = encoding_info(encoding).dtype.itemsize * 8
    if codec == "jpeg":
        return "bgr8" if _is_colour(encoding) else "mono8"
    return f"bgr{depth}" if _is_colour(encoding) else ""


def compressed_format_string(encoding: str, codec: Codec) -> str:
    """The ``format`` the plugin writes for an image of ``encoding`` compressed with ``codec``.

    Raises:
        ImageEncodingError: an encoding the plugin does not compress with that
            codec (JPEG and PNG take 8- or 16-bit mono and colour).
    """
    _check(encoding, codec)
    return f"{encoding}; {codec} compressed {_target(encoding, codec)}"


def _check(encoding: str, codec: Codec) -> None:
    """Refuse what the plugin refuses: a codec other than jpeg or png, or not 8/16-bit mono or colour."""
    if codec not in COLOUR_FORMATS:
        msg = f"compressed output codec {codec!r} is not one of {', '.join(COLOUR_FORMATS)}"
        raise ImageEncodingError(msg)
    try:
        info = encoding_info(encoding)
    except CvBridgeError as exc:
        raise ImageEncodingError(str(exc)) from None
    if info.layout not in ("GRAY", *_COLOUR_LAYOUTS):
        msg = f"{codec} compression takes 8- or 16-bit mono or colour images, not {encoding}"
        raise ImageEncodingError(msg)


def encode_compressed_output(
    pixels: np.ndarray,
    encoding: str,
    codec: Codec,
    *,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> tuple[str, array.array]:
    """``(format, data)`` of a ``sensor_msgs/CompressedImage`` holding ``pixels`` (an image of ``encoding``).

    ``data`` is an ``array.array('B')``, which an rclpy message takes without
    a per-byte check.

    Raises:
        ImageEncodingError: an encoding or codec the plugin does not
            compress (see :func:`compressed_format_string`), pixels that do
            not fit the encoding, a quality outside 1-100 or a level outside
            0-9, or OpenCV failing to encode.
    """
    format_string = compressed_format_string(encoding, codec)
    info = encoding_info(encoding)
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if pixels.dtype != info.dtype or channels != info.channels or pixels.ndim not in (2, 3):
        msg = f"{encoding} needs {info.channels}-channel {info.dtype} pixels, got {pixels.dtype} {pixels.shape}"
        raise ImageEncodingError(msg)
    if not 1 <= jpeg_quality <= 100 or not 0 <= png_level <= 9:
        msg = f"jpeg_quality must be 1-100 and png_level 0-9, got {jpeg_quality} and {png_level}"
        raise ImageEncodingError(msg)
    target = _target(encoding, codec)
    image = pixels if not target or target == encoding else convert(pixels, encoding, target)
    if codec == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    ok, encoded = cv2.imencode(".jpg" if codec == "jpeg" else ".png", np.ascontiguousarray(image), params)
    if not ok:
        msg = f"OpenCV could not encode a {encoding} image of shape {pixels.shape} as {codec}"
        raise ImageEncodingError(msg)
    data = array.array("B")
    data.frombytes(encoded.reshape(-1))
    return format_string, data
