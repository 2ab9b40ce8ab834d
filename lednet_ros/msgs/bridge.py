"""cv_bridge's Python API, for code written against it, where cv_bridge itself cannot be installed.

``CvBridge().imgmsg_to_cv2(msg, desired_encoding="passthrough")``,
``cv2_to_imgmsg(array, encoding="passthrough", header=None)``,
``compressed_imgmsg_to_cv2(msg, desired_encoding="passthrough")`` and
``cv2_to_compressed_imgmsg(array, dst_format="jpg")`` behave as ROS 2's
cv_bridge does (the same encodings, results and errors; the module-level
functions are the same calls without the object), with two differences
that only add what cv_bridge gets wrong:

* padded rows (``step`` > width x pixel size) and big-endian data are read
  correctly (cv_bridge's Python side reshapes by ``step`` and drops the
  padding only for some layouts), as :mod:`lednet_ros.msgs.image` does for the
  node; unpadded native-endian data is returned as a view of the message
  buffer, as cv_bridge returns it;
* a grey or 4-channel compressed image converted to a ``desired_encoding``
  starts from what was decoded (grey, BGR or BGRA) instead of assuming BGR.

Conversions between encodings follow cv_bridge's ``cvtColor2``: colour
layouts through OpenCV's ``cvtColor`` (YUV 4:2:2 and Bayer included, with
OpenCV's shifted Bayer names: ROS ``bayer_rggb8`` is OpenCV's ``BayerBG``),
8 <-> 16 bit by scaling with 65535/255 and rounding (``convertTo``), and
generic ``TYPE`` encodings (``8UC3``, ``32FC1`` ...) only to encodings of
the same channel count. Errors are :class:`CvBridgeError` (a ``TypeError``,
as in cv_bridge).

Core module: NumPy and OpenCV only; ``sensor_msgs`` is imported when a
message is built (``cv2_to_imgmsg`` and ``cv2_to_compressed_imgmsg``).
"""

from __future__ import annotations

import array as pyarray
import re
import sys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from lednet_ros.msgs.image import byte_view

__all__ = [
    "CvBridge",
    "CvBridgeError",
    "compressed_imgmsg_to_cv2",
    "cv2_to_compressed_imgmsg",
    "cv2_to_imgmsg",
    "encoding_info",
    "imgmsg_to_cv2",
]


class CvBridgeError(TypeError):
    """What cv_bridge raises for an unusable encoding, conversion or array (it is a TypeError there too)."""


@dataclass(frozen=True)
class EncodingInfo:
    """What an encoding string means: element type, channels and colour layout (None: a generic TYPE)."""

    dtype: np.dtype
    channels: int
    layout: str | None


_COLOUR: dict[str, tuple[str, int, str]] = {
    "mono8": ("u1", 1, "GRAY"), "mono16": ("u2", 1, "GRAY"),
    "bgr8": ("u1", 3, "BGR"), "rgb8": ("u1", 3, "RGB"), "bgra8": ("u1", 4, "BGRA"), "rgba8": ("u1", 4, "RGBA"),
    "bgr16": ("u2", 3, "BGR"), "rgb16": ("u2", 3, "RGB"), "bgra16": ("u2", 4, "BGRA"), "rgba16": ("u2", 4, "RGBA"),
    "yuv422": ("u1", 2, "UYVY"), "uyvy": ("u1", 2, "UYVY"), "yuv422_yuy2": ("u1", 2, "YUYV"), "yuyv": ("u1", 2, "YUYV"),
    "bayer_rggb8": ("u1", 1, "BayerBG"), "bayer_bggr8": ("u1", 1, "BayerRG"),
    "bayer_gbrg8": ("u1", 1, "BayerGR"), "bayer_grbg8": ("u1", 1, "BayerGB"),
    "bayer_rggb16": ("u2", 1, "BayerBG"), "bayer_bggr16": ("u2", 1, "BayerRG"),
    "bayer_gbrg16": ("u2", 1, "BayerGR"), "bayer_grbg16": ("u2", 1, "BayerGB"),
}  # fmt: skip
"""ROS encoding -> (NumPy element type, channels, colour layout in OpenCV's naming)."""

_GENERIC = re.compile(r"(8U|8S|16U|16S|32S|32F|64F)(?:C([1-4]))?")
_DEPTH_TYPES = {"8U": "u1", "8S": "i1", "16U": "u2", "16S": "i2", "32S": "i4", "32F": "f4", "64F": "f8"}
_DTYPE_DEPTHS = {np.dtype(t).str[1:]: depth for depth, t in _DEPTH_TYPES.items()}

_DISPLAY = ("GRAY", "RGB", "BGR", "RGBA", "BGRA")
_YUV_NAMES = {"UYVY": "Y422", "YUYV": "YUYV"}  # OpenCV's names for encoding to YUV 4:2:2


def _conversion_code(source: str, target: str) -> int | None:
    """OpenCV's cvtColor code from one colour layout to another, or None where cv_bridge has none."""
    if source in _YUV_NAMES:  # decode YUV 4:2:2
        name = f"COLOR_YUV2{target}_{source}" if target in _DISPLAY else ""
    elif target in _YUV_NAMES:  # encode YUV 4:2:2 from colour
        name = f"COLOR_{source}2YUV_{_YUV_NAMES[target]}" if source in _DISPLAY[1:] else ""
    elif source.startswith("Bayer"):
        name = f"COLOR_{source}2{target}" if target in _DISPLAY else ""
    else:
        name = f"COLOR_{source}2{target}" if source in _DISPLAY and target in _DISPLAY else ""
    code = getattr(cv2, name, None) if name else None
    return code if isinstance(code, int) else None


def encoding_info(encoding: str) -> EncodingInfo:
    """Parse a ROS image encoding (``bgr8``, ``16UC1``, ``32FC3`` ...).

    Raises:
        CvBridgeError: an encoding cv_bridge does not know.
    """
    if encoding in _COLOUR:
        dtype, channels, layout = _COLOUR[encoding]
        return EncodingInfo(np.dtype(dtype), channels, layout)
    match = _GENERIC.fullmatch(encoding.removeprefix("TYPE_") if encoding.startswith("TYPE_") else encoding)
    if match:
        return EncodingInfo(np.dtype(_DEPTH_TYPES[match.group(1)]), int(match.group(2) or 1), None)
    msg = f"Unrecognized image encoding [{encoding}]"
    raise CvBridgeError(msg)


def _cv_type_name(array: np.ndarray) -> str:
    """``8UC3``-style name of an array's element type and channels (cv_bridge's passthrough encoding)."""
    depth = _DTYPE_DEPTHS.get(array.dtype.str[1:])
    if depth is None:
        msg = f"Unsupported array type {array.dtype}: use uint8, int8, uint16, int16, int32, float32 or float64"
        raise CvBridgeError(msg)
    return f"{depth}C{array.shape[2] if array.ndim == 3 else 1}"


def imgmsg_to_cv2(msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
    """A ``sensor_msgs/Image`` as an OpenCV array (H x W, or H x W x C), optionally converted.

    ``passthrough`` keeps the message's element type and channels; any
    other encoding is converted to (see the module docstring).

    Raises:
        CvBridgeError: an unknown encoding, a buffer too small for
            ``step x height``, a ``step`` too small for the width, or a
            conversion cv_bridge refuses.
    """
    info = encoding_info(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    buffer = byte_view(msg.data)
    row = width * info.channels * info.dtype.itemsize
    if step < row:
        msg_text = f"step {step} is less than width x pixel size = {row} for {msg.encoding}"
        raise CvBridgeError(msg_text)
    if buffer.size < step * height:
        msg_text = f"the buffer holds {buffer.size} bytes, step x height = {step * height}"
        raise CvBridgeError(msg_text)
    wire = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    shape = (height, width, info.channels)
    strides = (step, info.channels * info.dtype.itemsize, info.dtype.itemsize)
    image = np.ndarray(shape, wire, buffer=buffer, strides=strides)  # a view; unaligned rows are allowed
    if not wire.isnative:
        image = image.astype(wire.newbyteorder("="))  # a native copy, as cv_bridge's byteswap gives
    elif step != row:
        image = np.ascontiguousarray(image)  # drop the padding
    if info.channels == 1:
        image = image[..., 0]
    if desired_encoding in ("passthrough", msg.encoding):
        return image
    return _convert(image, msg.encoding, desired_encoding)


def _convert(image: np.ndarray, source: str, target: str) -> np.ndarray:
    """cv_bridge's cvtColor2: colour layout through cvtColor, then bit depth by scaling."""
    src, dst = encoding_info(source), encoding_info(target)
    if src.layout is None or dst.layout is None:
        if src.channels != dst.channels:
            generic, other = (source, target) if src.layout is None else (target, source)
            msg = f"[{generic}] is not a color format. but [{other}] is. The conversion does not make sense"
            raise CvBridgeError(msg)
    elif src.layout != dst.layout:
        code = _conversion_code(src.layout, dst.layout)
        if code is None:
            msg = f"Unsupported conversion from [{source}] to [{target}]"
            raise CvBridgeError(msg)
        try:
            image = cv2.cvtColor(np.ascontiguousarray(image), code)
        except cv2.error as exc:  # e.g. YUV 4:2:2 from 16-bit colour: OpenCV takes 8-bit only
            msg = f"Unsupported conversion from [{source}] to [{target}]: {exc.err}"
            raise CvBridgeError(msg) from exc
    if image.dtype == dst.dtype:
        return image
    scale = 1.0
    if image.dtype == np.uint8 and dst.dtype == np.uint16:
        scale = 65535.0 / 255.0
    elif image.dtype == np.uint16 and dst.dtype == np.uint8:
        scale = 255.0 / 65535.0
    scaled = image.astype(np.float64) * scale
    if np.issubdtype(dst.dtype, np.integer):  # convertTo: round to nearest, saturate
        limits = np.iinfo(dst.dtype)
        scaled = np.clip(np.rint(scaled), limits.min, limits.max)
    return scaled.astype(dst.dtype)


def cv2_to_imgmsg(cvim: np.ndarray, encoding: str = "passthrough", header: Any = None) -> Any:
    """An OpenCV array as a ``sensor_msgs/Image`` (unpadded; big-endian flagged if the array is).

    ``passthrough`` names the encoding after the array (``8UC3``, ``32FC1``
    ...); any other encoding must fit the array's element type and channels.

    Raises:
        TypeError: not a NumPy array (cv_bridge's message).
        CvBridgeError: an element type OpenCV has no name for, or an
            encoding that does not fit the array.
    """
    from sensor_msgs.msg import Image  # noqa: PLC0415 (only this function needs ROS)

    if not isinstance(cvim, np.ndarray | np.generic):
        msg = "Your input type is not a numpy array"
        raise TypeError(msg)
    array = np.asarray(cvim)
    cv_type = _cv_type_name(array)
    if encoding == "passthrough":
        encoding = cv_type
    else:
        info = encoding_info(encoding)
        channels = array.shape[2] if array.ndim == 3 else 1
        if info.dtype.str[1:] != array.dtype.str[1:] or info.channels != channels:
            msg = f"encoding specified as {encoding}, but image has incompatible type {cv_type}"
            raise CvBridgeError(msg)
    message = Image()
    if header is not None:
        message.header = header
    message.height, message.width = int(array.shape[0]), int(array.shape[1])
    message.encoding = encoding
    big = array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big")
    message.is_bigendian = int(big)
    contiguous = np.ascontiguousarray(array)
    message.step = message.width * (array.shape[2] if array.ndim == 3 else 1) * array.dtype.itemsize
    message.data = pyarray.array("B", contiguous.reshape(-1).view(np.uint8).tobytes())
    return message


def compressed_imgmsg_to_cv2(msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` decoded by OpenCV (``IMREAD_UNCHANGED``), optionally converted.

    Raises:
        CvBridgeError: a payload OpenCV cannot decode, or a conversion
            cv_bridge refuses.
    """
    payload = byte_view(msg.data)
    image = cv2.imdecode(payload, cv2.IMREAD_UNCHANGED) if payload.size else None
    if image is None:
        text = f"cannot decode the compressed image ({payload.size} bytes, format {msg.format!r})"
        raise CvBridgeError(text)
    if desired_encoding == "passthrough":
        return image
    channels = image.shape[2] if image.ndim == 3 else 1
    depth = "16" if image.dtype == np.uint16 else "8"
    source = {1: f"mono{depth}", 3: f"bgr{depth}", 4: f"bgra{depth}"}.get(channels)
    if source is None or image.dtype not in (np.uint8, np.uint16):
        text = f"cannot convert a decoded {channels}-channel {image.dtype} image to [{desired_encoding}]"
        raise CvBridgeError(text)
    return image if desired_encoding == source else _convert(image, source, desired_encoding)


def cv2_to_compressed_imgmsg(cvim: np.ndarray, dst_format: str = "jpg") -> Any:
    """An OpenCV array encoded by OpenCV as a ``sensor_msgs/CompressedImage`` (``format`` = ``dst_format``).

    Raises:
        TypeError: not a NumPy array.
        CvBridgeError: OpenCV cannot encode the array in that format.
    """
    from sensor_msgs.msg import CompressedImage  # noqa: PLC0415

    if not isinstance(cvim, np.ndarray | np.generic):
        msg = "Your input type is not a numpy array"
        raise TypeError(msg)
    try:
        ok, encoded = cv2.imencode(f".{dst_format}", np.asarray(cvim))
    except cv2.error as exc:
        raise CvBridgeError(str(exc)) from exc
    if not ok:
        msg = f"OpenCV could not encode the image as {dst_format!r}"
        raise CvBridgeError(msg)
    message = CompressedImage()
    message.format = dst_format
    message.data = pyarray.array("B", encoded.tobytes())
    return message


class CvBridge:
    """Drop-in for ``cv_bridge.CvBridge``: the same four calls, as methods."""

    def imgmsg_to_cv2(self, img_msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
        """See :func:`imgmsg_to_cv2`."""
        return imgmsg_to_cv2(img_msg, desired_encoding)

    def cv2_to_imgmsg(self, cvim: np.ndarray, encoding: str = "passthrough", header: Any = None) -> Any:
        """See :func:`cv2_to_imgmsg`."""
        return cv2_to_imgmsg(cvim, encoding, header)

    def compressed_imgmsg_to_cv2(self, cmprs_img_msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
        """See :func:`compressed_imgmsg_to_cv2`."""
        return compressed_imgmsg_to_cv2(cmprs_img_msg, desired_encoding)

    def cv2_to_compressed_imgmsg(self, cvim: np.ndarray, dst_format: str = "jpg") -> Any:
        """See :func:`cv2_to_compressed_imgmsg`."""
        return cv2_to_compressed_imgmsg(cvim, dst_format)
