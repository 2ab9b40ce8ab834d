"""Depth frames from image_transport's ``compressedDepth`` plugin, decoded under the frame limits.

What the plugin writes (``compressed_depth_image_transport``, ``codec.cpp``):

* ``format``: ``"<encoding>; compressedDepth png"`` or ``"...; compressedDepth rvl"``
  (Jazzy on); ``"<encoding>; compressedDepth"`` before the codec was named
  (Humble and older: PNG), and the plain encoding before that (PNG too);
* ``data``: a 12-byte config header, then the payload. The header is the C
  struct ``{int32 format; float32 depthParam[2]}`` in the machine's byte
  order (little-endian wherever ROS 2 runs): ``format`` is always 0
  (``INV_DEPTH``), the two floats are the inverse-depth quantization's
  ``a`` and ``b`` (left uninitialised for 16-bit depth, so never read there);
* ``16UC1`` (and ``mono16``): the millimetres themselves, as a 16-bit grey
  PNG or an RVL stream, pixels beyond the publisher's ``depth_max`` set to 0;
* ``32FC1``: metres, quantized to 16 bits as ``q = (uint16)(a / depth + b)``
  for depths below ``depth_max`` (else 0), with ``a = z0 (z0 + 1)`` and
  ``b = 1 - a / depth_max`` (``z0`` the ``depth_quantization`` parameter),
  as PNG or RVL; decoding gives ``a / (q - b)``, and NaN where ``q`` is 0.

Hostile frames are refused before anything is allocated for them: the size
is read from the PNG's IHDR (:mod:`lednet_ros.msgs.image_headers`, as for
colour frames) or the RVL width and height, and checked with
:func:`~lednet_ros.msgs.image.check_image_shape` (the limits of
:mod:`lednet_ros.limits`); a PNG must be 16-bit grey and decode to the size
its IHDR gives.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.cloud import DEPTH_ENCODINGS, depth_in_metres
from lednet_ros.msgs.image import byte_view, check_image_shape
from lednet_ros.msgs.image_headers import payload_kind, read_header
from lednet_ros.msgs.rvl import RVL_SIZE, decode_rvl, rvl_size

if TYPE_CHECKING:
    from lednet_ros.msgs.image import BufferLike

__all__ = [
    "CONFIG_HEADER",
    "INV_DEPTH",
    "DepthFormat",
    "compressed_depth_in_metres",
    "compressed_depth_size",
    "decode_compressed_depth",
    "inverse_depth",
    "parse_depth_format",
]

CONFIG_HEADER = struct.Struct("<iff")
"""The plugin's ``ConfigHeader``: compression format, quantization ``a`` and ``b`` (12 bytes)."""

INV_DEPTH = 0
"""The only compression format the plugin writes into the header."""

Codec = Literal["png", "rvl"]


@dataclass(frozen=True)
class DepthFormat:
    """What a compressedDepth ``format`` says: the depth encoding and the codec."""

    encoding: str
    codec: Codec


def parse_depth_format(format_field: str) -> DepthFormat:
    """Read a compressedDepth ``format`` by the plugin subscriber's rules.

    Raises:
        ImageEncodingError: a codec other than png or rvl, or a depth
            encoding other than ``16UC1``, ``mono16`` or ``32FC1``.
    """
    encoding, separator, rest = format_field.partition(";")
    codec: Codec = "png"  # no ";" at all: the oldest form, PNG
    if separator:
        if "compressedDepth png" in rest:
            codec = "png"
        elif "compressedDepth rvl" in rest:
            codec = "rvl"
        elif "compressedDepth" not in rest or "compressedDepth " in rest:
            msg = f"format {format_field!r} is not a compressedDepth format (png or rvl)"
            raise ImageEncodingError(msg)
    encoding = encoding.strip()
    if encoding not in DEPTH_ENCODINGS:
        msg = f"compressedDepth encoding {encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}"
        raise ImageEncodingError(msg)
    return DepthFormat(encoding, codec)


def inverse_depth(quantized: np.ndarray, a: float, b: float) -> np.ndarray:
    """The plugin's dequantization in float32: ``a / (q - b)``, NaN where ``q`` is 0."""
    a32, b32 = np.float32(a), np.float32(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        metres = a32 / (quantized.astype(np.float32) - b32)
    metres[quantized == 0] = np.nan
    return metres


def _decode_png(payload: np.ndarray, what: str, max_pixels: int | None) -> np.ndarray:
    """A 16-bit grey PNG, its IHDR read and checked before OpenCV allocates anything."""
    if payload_kind(memoryview(payload)) != "png":
        msg = f"{what}: the payload after the 12-byte config header is not a PNG"
        raise ImageEncodingError(msg)
    header = read_header(memoryview(payload))
    check_image_shape(header.width, header.height, max_pixels, "compressedDepth PNG")
    if header.channels != 1 or header.bit_depth != 16:
        msg = f"{what}: a {header.bit_depth}-bit {header.channels}-channel PNG, the plugin writes 16-bit grey"
        raise ImageEncodingError(msg)
    try:
        image = cv2.imdecode(payload, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        msg = f"{what}: OpenCV refused the PNG ({str(exc).strip().splitlines()[-1]})"
        raise ImageEncodingError(msg) from None
    if image is None or image.dtype != np.uint16 or image.shape != (header.height, header.width):
        msg = f"{what}: the PNG does not decode to the {header.width}x{header.height} 16-bit image its IHDR gives"
        raise ImageEncodingError(msg)
    return image


def _decode_rvl(payload: np.ndarray, what: str, max_pixels: int | None) -> np.ndarray:
    """An RVL payload: width and height first, checked, then the stream."""
    width, height = rvl_size(memoryview(payload))
    check_image_shape(width, height, max_pixels, "compressedDepth RVL image")
    try:
        return decode_rvl(memoryview(payload)[RVL_SIZE.size :], width, height)
    except ImageEncodingError as exc:
        msg = f"{what}: {exc}"
        raise ImageEncodingError(msg) from None


def _split(format_field: str, data: BufferLike) -> tuple[DepthFormat, np.ndarray, float, float, str]:
    """The format, the payload after the config header, the header's a and b, and a description for errors."""
    depth_format = parse_depth_format(format_field)
    buffer = byte_view(data)
    what = f"compressedDepth frame ({buffer.size} bytes, format {format_field!r})"
    if buffer.size <= CONFIG_HEADER.size:
        msg = f"{what}: no payload after the {CONFIG_HEADER.size}-byte config header"
        raise ImageEncodingError(msg)
    kind, a, b = CONFIG_HEADER.unpack(buffer[: CONFIG_HEADER.size].tobytes())
    if kind != INV_DEPTH:
        msg = f"{what}: config header format {kind}, the plugin writes {INV_DEPTH} (INV_DEPTH)"
        raise ImageEncodingError(msg)
    return depth_format, buffer[CONFIG_HEADER.size :], a, b, what


def compressed_depth_size(format_field: str, data: BufferLike) -> tuple[int, int]:
    """(width, height) of a compressedDepth frame from its headers alone (PNG IHDR or RVL prefix); nothing is decoded.

    Raises:
        ImageEncodingError: what :func:`decode_compressed_depth` refuses in the format and headers.
    """
    depth_format, payload, _, _, what = _split(format_field, data)
    if depth_format.codec == "rvl":
        return rvl_size(memoryview(payload))
    if payload_kind(memoryview(payload)) != "png":
        msg = f"{what}: the payload after the 12-byte config header is not a PNG"
        raise ImageEncodingError(msg)
    header = read_header(memoryview(payload))
    return header.width, header.height


def decode_compressed_depth(
    format_field: str, data: BufferLike, *, max_pixels: int | None = None
) -> tuple[str, np.ndarray]:
    """A compressedDepth frame as (encoding, H x W pixels): uint16 millimetres or float32 metres (NaN: no depth).

    ``max_pixels`` applies the frame limits (as for raw depth frames) to the
    size in the PNG IHDR or the RVL prefix, before anything is decoded.

    Raises:
        ImageEncodingError: a format that is not compressedDepth PNG or RVL
            of a depth encoding, a config header that is short or not
            ``INV_DEPTH``, non-finite quantization parameters for 32FC1, a
            payload that is not what the format says or is broken, or a
            size beyond the limits (:class:`~lednet_ros.errors.ImageTooLargeError`).
    """
    depth_format, payload, a, b, what = _split(format_field, data)
    decode = _decode_png if depth_format.codec == "png" else _decode_rvl
    if depth_format.encoding != "32FC1":
        return depth_format.encoding, decode(payload, what, max_pixels)
    if not (np.isfinite(a) and np.isfinite(b) and a != 0):
        msg = f"{what}: the config header's quantization parameters a={a}, b={b} are unusable"
        raise ImageEncodingError(msg)
    return "32FC1", inverse_depth(decode(payload, what, max_pixels), a, b)


def compressed_depth_in_metres(format_field: str, data: BufferLike, *, max_pixels: int | None = None) -> np.ndarray:
    """A compressedDepth frame as H x W float32 metres, as :func:`~lednet_ros.msgs.cloud.decode_depth` gives a raw one.

    Raises:
        ImageEncodingError: see :func:`decode_compressed_depth`.
    """
    encoding, pixels = decode_compressed_depth(format_field, data, max_pixels=max_pixels)
    return depth_in_metres(pixels, encoding)
