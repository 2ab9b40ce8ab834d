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

``getCvType`` and ``cvtColorForDisplay`` (:mod:`lednet_ros.msgs.display`)
are here too, as ``cv_bridge`` exports them, and ``CvBridge`` has its type
helpers (``encoding_to_cvtype2`` ...). Every generic encoding up to 512
channels (``8UC5``, ``32FC100``) round-trips with ``passthrough``. One
choice where cv_bridge refuses: an explicit generic ``encoding="8UC5"`` to
``cv2_to_imgmsg`` is accepted when it fits the array, as ``passthrough``
would name it; cv_bridge raises a bare ``KeyError`` there only because its
Python lookup table stops at 4 channels, while reading that same message
back works in cv_bridge.

Core module: NumPy and OpenCV only; ``sensor_msgs`` is imported when a
message is built (``cv2_to_imgmsg`` and ``cv2_to_compressed_imgmsg``).
"""

from __future__ import annotations

import array as pyarray
import sys
from typing import Any

import cv2
import numpy as np

from lednet_ros.msgs.display import cvtColorForDisplay
from lednet_ros.msgs.encodings import (
    CvBridgeError,
    convert,
    cv_type_name,
    cv_type_parts,
    dtype_name,
    encoding_info,
    getCvType,
)
from lednet_ros.msgs.image import byte_view

__all__ = [
    "CvBridge",
    "CvBridgeError",
    "compressed_imgmsg_to_cv2",
    "cv2_to_compressed_imgmsg",
    "cv2_to_imgmsg",
    "cvtColorForDisplay",
    "encoding_info",
    "getCvType",
    "imgmsg_to_cv2",
]


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
    return convert(image, msg.encoding, desired_encoding)


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
    cv_type = cv_type_name(array)
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
    return image if desired_encoding == source else convert(image, source, desired_encoding)


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
    """Drop-in for ``cv_bridge.CvBridge``: the four conversions and the four type helpers, as methods."""

    def encoding_to_cvtype2(self, encoding: str) -> int:
        """OpenCV's type code of an encoding (:func:`getCvType`)."""
        return getCvType(encoding)

    def encoding_to_dtype_with_channels(self, encoding: str) -> tuple[str, int]:
        """``("uint8", 3)`` for ``bgr8``: the NumPy type name and channels of an encoding."""
        info = encoding_info(encoding)
        return info.dtype.name, info.channels

    def dtype_with_channels_to_cvtype2(self, dtype: np.dtype, n_channels: int) -> str:
        """``8UC3`` for (uint8, 3)."""
        return dtype_name(dtype, n_channels)

    def cvtype2_to_dtype_with_channels(self, cvtype: int) -> tuple[str, int]:
        """``("uint16", 3)`` for ``cv2.CV_16UC3``."""
        return cv_type_parts(cvtype)

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
