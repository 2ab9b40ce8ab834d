"""ROS image encodings as cv_bridge reads them: element type, channels, colour layout, and conversions between them.

Shared by :mod:`lednet_ros.msgs.bridge` (messages <-> arrays) and
:mod:`lednet_ros.msgs.display` (``cvtColorForDisplay``), so that both name,
refuse and convert encodings the same way.

Generic ``TYPE`` encodings are ``{8U,8S,16U,16S,32S,32F,64F}`` with an
optional ``C<n>``, n from 1 to OpenCV's ``CV_CN_MAX`` (512), as cv_bridge's
``getCvType`` parses them. cv_bridge itself accepts any digits there and
packs them into an OpenCV type whose channel field silently wraps past 512
(``8UC600`` reads back as 88 channels); here a count of 0 or over 512 is an
unknown encoding instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CV_CN_MAX",
    "CvBridgeError",
    "EncodingInfo",
    "convert",
    "cv_type_name",
    "cv_type_parts",
    "dtype_name",
    "encoding_info",
    "getCvType",
]

CV_CN_MAX = 512
"""OpenCV's largest channel count (``CV_CN_MAX``)."""


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

_GENERIC = re.compile(r"(8U|8S|16U|16S|32S|32F|64F)(?:C([0-9]+))?")
_DEPTH_TYPES = {"8U": "u1", "8S": "i1", "16U": "u2", "16S": "i2", "32S": "i4", "32F": "f4", "64F": "f8"}
_DTYPE_DEPTHS = {np.dtype(t).str[1:]: depth for depth, t in _DEPTH_TYPES.items()}

_DISPLAY = ("GRAY", "RGB", "BGR", "RGBA", "BGRA")
_YUV_NAMES = {"UYVY": "Y422", "YUYV": "YUYV"}  # OpenCV's names for encoding to YUV 4:2:2


def encoding_info(encoding: str) -> EncodingInfo:
    """Parse a ROS image encoding (``bgr8``, ``16UC1``, ``32FC3``, ``8UC512`` ...).

    Raises:
        CvBridgeError: an encoding cv_bridge does not know, or a channel
            count outside 1 to 512.
    """
    if encoding in _COLOUR:
        dtype, channels, layout = _COLOUR[encoding]
        return EncodingInfo(np.dtype(dtype), channels, layout)
    match = _GENERIC.fullmatch(encoding.removeprefix("TYPE_"))
    if match and 1 <= int(match.group(2) or 1) <= CV_CN_MAX:
        return EncodingInfo(np.dtype(_DEPTH_TYPES[match.group(1)]), int(match.group(2) or 1), None)
    msg = f"Unrecognized image encoding [{encoding}]"
    raise CvBridgeError(msg)


def getCvType(encoding: str) -> int:  # noqa: N802 (cv_bridge's name)
    """OpenCV's type code of an encoding (``cv2.CV_8UC3`` for ``bgr8``), as cv_bridge's ``getCvType``.

    The code is the installed OpenCV's (``cv2.CV_8UC(n)`` ...), so it compares
    equal to the ``cv2`` constants: OpenCV 5 packs the channel count 5 bits
    up where OpenCV 4, which cv_bridge is built with, packs it 3 bits up.

    Raises:
        CvBridgeError: an unknown encoding (see :func:`encoding_info`).
    """
    info = encoding_info(encoding)
    depth = _DTYPE_DEPTHS[info.dtype.str[1:]]
    return int(getattr(cv2, f"CV_{depth}C")(info.channels))


_CN_SHIFT = int(cv2.CV_8UC(2)).bit_length() - 1  # 3 in OpenCV 4, 5 in OpenCV 5


def cv_type_parts(cv_type: int) -> tuple[str, int]:
    """An OpenCV type code as (NumPy type name, channels): ``cv2.CV_16UC3`` -> ``("uint16", 3)``.

    Raises:
        CvBridgeError: a depth outside cv_bridge's seven (8U to 64F).
    """
    depth = cv_type & ((1 << _CN_SHIFT) - 1)
    names = [np.dtype(t).name for t in _DEPTH_TYPES.values()]
    if not 0 <= depth < len(names):
        msg = f"OpenCV type {cv_type} has a depth cv_bridge does not handle"
        raise CvBridgeError(msg)
    return names[depth], ((cv_type >> _CN_SHIFT) & (CV_CN_MAX - 1)) + 1


def dtype_name(dtype: np.dtype, channels: int) -> str:
    """``8UC3``-style name of an element type and channel count.

    Raises:
        CvBridgeError: an element type OpenCV has no name for, or a channel count outside 1 to 512.
    """
    depth = _DTYPE_DEPTHS.get(np.dtype(dtype).str[1:])
    if depth is None:
        msg = f"Unsupported array type {dtype}: use uint8, int8, uint16, int16, int32, float32 or float64"
        raise CvBridgeError(msg)
    if not 1 <= channels <= CV_CN_MAX:
        msg = f"an image has 1 to {CV_CN_MAX} channels, got {channels}"
        raise CvBridgeError(msg)
    return f"{depth}C{channels}"


def cv_type_name(array: np.ndarray) -> str:
    """``8UC3``-style name of an array's element type and channels (cv_bridge's passthrough encoding).

    Raises:
        CvBridgeError: an element type OpenCV has no name for, or more than 512 channels.
    """
    if array.ndim not in (2, 3):
        msg = f"an image is H x W or H x W x C, got shape {array.shape}"
        raise CvBridgeError(msg)
    return dtype_name(array.dtype, array.shape[2] if array.ndim == 3 else 1)


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


def convert(image: np.ndarray, source: str, target: str) -> np.ndarray:
    """cv_bridge's cvtColor2: colour layout through cvtColor, then bit depth by scaling.

    Raises:
        CvBridgeError: a conversion cv_bridge refuses (a generic type to or
            from another channel count, or colour layouts OpenCV cannot convert).
    """
    src, dst = encoding_info(source), encoding_info(target)
    if src.layout is None or dst.layout is None:
        if src.channels != dst.channels:
            generic, other = (source, target) if src.layout is None else (target, source)
            msg = f"[{generic}] is not a color format. but [{other}] is. The conversion does not make sense"
            if src.layout is None and dst.layout is None:
                msg = f"[{source}] and [{target}] do not have the same number of channel"
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
