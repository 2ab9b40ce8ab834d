"""``sensor_msgs/Image`` and ``CompressedImage`` fields <-> NumPy arrays, without ROS.

The functions take the message's fields, not the message, so the same code
serves rclpy messages (``data`` is an ``array.array``), rosbags messages
(``data`` is a NumPy array) and plain bytes, and the core never imports
rclpy. Decoding is zero-copy wherever the encoding allows: the result is a
strided view of the message buffer that honours ``step`` (padded rows); only
encodings that need arithmetic (YUV, Bayer, 16-bit, alpha removal) allocate.

What comes out is what :class:`~lednet_ros.inference.engine.SegmentationEngine` takes:
an ``HxWx3`` uint8 array with its channel order (``rgb`` or ``bgr``), or an
``HxW`` uint8 array for grey images.

:mod:`lednet_ros.msgs.bridge` offers cv_bridge's API (``imgmsg_to_cv2`` ...) on
top of the same buffer handling, for user code that expects it.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from lednet_ros.errors import ImageEncodingError
from lednet_ros.limits import check_image_size
from lednet_ros.msgs.image_headers import read_header

if TYPE_CHECKING:
    BufferLike = bytes | bytearray | memoryview | array.array | np.ndarray

__all__ = [
    "SUPPORTED_ENCODINGS",
    "DecodedImage",
    "byte_view",
    "check_image_shape",
    "compressed_format",
    "decode_compressed",
    "decode_image",
    "encode_image",
    "image_rows",
]

Order = Literal["rgb", "bgr", "mono"]


@dataclass(frozen=True)
class _Encoding:
    channels: int
    bytes_per_channel: int
    order: Order
    bayer: int | None = None  # OpenCV demosaicing code (to RGB)
    yuv: int | None = None  # OpenCV YUV 4:2:2 code (to RGB)


# ROS names -> layout. OpenCV names a Bayer pattern by the 2x2 block starting
# at the second row and column, so ROS's "rggb" is OpenCV's "BG" (as in cv_bridge).
_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, 1, "rgb"),
    "bgr8": _Encoding(3, 1, "bgr"),
    "rgba8": _Encoding(4, 1, "rgb"),
    "bgra8": _Encoding(4, 1, "bgr"),
    "mono8": _Encoding(1, 1, "mono"),
    "8UC1": _Encoding(1, 1, "mono"),
    "mono16": _Encoding(1, 2, "mono"),
    "16UC1": _Encoding(1, 2, "mono"),
    "yuv422": _Encoding(2, 1, "rgb", yuv=cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": _Encoding(2, 1, "rgb", yuv=cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Encoding(2, 1, "rgb", yuv=cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": _Encoding(2, 1, "rgb", yuv=cv2.COLOR_YUV2RGB_YUY2),
    "bayer_rggb8": _Encoding(1, 1, "rgb", bayer=cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": _Encoding(1, 1, "rgb", bayer=cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": _Encoding(1, 1, "rgb", bayer=cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": _Encoding(1, 1, "rgb", bayer=cv2.COLOR_BayerGB2RGB),
}

SUPPORTED_ENCODINGS = frozenset(_ENCODINGS)
"""Encodings :func:`decode_image` accepts."""


@dataclass(frozen=True)
class DecodedImage:
    """Pixels ready for the engine.

    Attributes:
        pixels: HxWx3 uint8 (``order`` says rgb or bgr) or HxW uint8 (mono).
        order: ``rgb``, ``bgr`` or ``mono``.
        zero_copy: True when ``pixels`` is a view of the message buffer.
    """

    pixels: np.ndarray
    order: Order
    zero_copy: bool

    def rgb(self) -> np.ndarray:
        """The pixels as a contiguous HxWx3 RGB array (mono repeated; for showing or encoding to PNG)."""
        pixels = np.asarray(self.pixels)
        if self.order == "mono":
            return np.repeat(pixels[..., None], 3, axis=2)
        return np.ascontiguousarray(pixels[..., ::-1] if self.order == "bgr" else pixels)


def byte_view(data: BufferLike) -> np.ndarray:
    """A message's ``data`` (any buffer) as a flat C-contiguous uint8 array, copied only when it is not contiguous."""
    # C-contiguous bytes, copied only when the caller's buffer is not: decode_image addresses the result with
    # as_strided from its first element, so a strided or reversed array would be read out of order or past its
    # end, and a strided memoryview made np.frombuffer raise BufferError (found by test_image_conv_fuzz.py).
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if isinstance(data, memoryview) and not data.c_contiguous:
        data = data.tobytes()
    return np.frombuffer(data, dtype=np.uint8)


def check_image_shape(width: int, height: int, max_pixels: int | None, what: str = "image") -> None:
    """Refuse an empty size, and (with ``max_pixels``) one beyond :func:`~lednet_ros.limits.check_image_size`.

    Raises:
        ImageEncodingError: which of the two, naming ``what``.
    """
    if height <= 0 or width <= 0:
        msg = f"empty {what} ({width}x{height})"
        raise ImageEncodingError(msg)
    if max_pixels is not None:
        check_image_size(width, height, max_pixels, what)


def image_rows(data: BufferLike, height: int, step: int, row_bytes: int, encoding: str) -> np.ndarray:
    """The ``height`` x ``row_bytes`` pixel bytes of an image message's ``data``, row padding left out (a view).

    Raises:
        ImageEncodingError: ``step`` shorter than a row, or ``data`` not ``step * height`` bytes.
    """
    if step < row_bytes:
        msg = f"step {step} is smaller than width x pixel size = {row_bytes} for {encoding}"
        raise ImageEncodingError(msg)
    buffer = byte_view(data)
    if buffer.size != step * height:
        msg = f"data holds {buffer.size} bytes but step x height = {step} x {height} = {step * height}"
        raise ImageEncodingError(msg)
    return np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes), strides=(step, 1), writeable=False)


def decode_image(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: int | bool,
    data: BufferLike,
    *,
    max_pixels: int | None = None,
) -> DecodedImage:
    """Turn the fields of a ``sensor_msgs/Image`` into engine input.

    Rows may be padded (``step`` > ``width`` x pixel size); 16-bit data may be
    big-endian. 16-bit grey is scaled to 8 bits (value / 256, as cv_bridge's
    ``mono16`` -> ``mono8``); alpha is dropped.

    Raises:
        ImageEncodingError: unsupported encoding, zero size, more than
            ``max_pixels`` pixels or beyond the side and aspect limits of
            :func:`~lednet_ros.limits.check_image_size` (both checked only
            when ``max_pixels`` is given), ``step`` too small for the width, or a data
            length other than ``step * height``. The message says which.
    """
    layout = _ENCODINGS.get(encoding)
    if layout is None:
        msg = f"unsupported encoding {encoding!r} (supported: {', '.join(sorted(SUPPORTED_ENCODINGS))})"
        raise ImageEncodingError(msg)
    check_image_shape(width, height, max_pixels)
    if layout.yuv is not None and width % 2:
        msg = f"{encoding} needs an even width, got {width}"
        raise ImageEncodingError(msg)
    rows = image_rows(data, height, step, width * layout.channels * layout.bytes_per_channel, encoding)
    if layout.bytes_per_channel == 2:
        words = rows.view(np.dtype(">u2" if is_bigendian else "<u2"))
        return DecodedImage((words >> 8).astype(np.uint8), "mono", zero_copy=False)
    if layout.yuv is not None:
        packed = np.ascontiguousarray(rows).reshape(height, width, 2)
        return DecodedImage(cv2.cvtColor(packed, layout.yuv), "rgb", zero_copy=False)
    if layout.bayer is not None:
        return DecodedImage(cv2.cvtColor(np.ascontiguousarray(rows), layout.bayer), "rgb", zero_copy=False)
    if layout.channels == 1:
        return DecodedImage(rows, "mono", zero_copy=True)
    pixels = rows.reshape(height, width, layout.channels)
    if layout.channels == 4:
        return DecodedImage(pixels[..., :3], layout.order, zero_copy=True)
    return DecodedImage(pixels, layout.order, zero_copy=True)


def compressed_format(format_field: str) -> str | None:
    """What a ``CompressedImage.format`` asks for: ``jpeg``, ``png`` or None (empty: go by the payload).

    image_transport's ``compressed`` plugin writes ``jpeg`` or ``png``, alone
    or as ``"<encoding>; <jpeg|png> compressed <encoding>"``; its
    ``compressedDepth`` plugin writes ``"<encoding>; compressedDepth [png|rvl]"``,
    a depth image that must not be segmented as colour.

    Raises:
        ImageEncodingError: a compressedDepth frame, or a format naming neither JPEG nor PNG.
    """
    text = format_field.lower()
    if "compresseddepth" in text:
        msg = f"format {format_field!r} is a compressedDepth frame (depth), not a colour image"
        raise ImageEncodingError(msg)
    words = set(text.replace(";", " ").split())
    named = {"jpeg" if word == "jpg" else word for word in words} & {"jpeg", "png"}
    if len(named) == 1:
        return named.pop()
    if not text.strip():
        return None
    msg = f"format {format_field!r} is not JPEG or PNG (the formats sensor_msgs/CompressedImage carries)"
    raise ImageEncodingError(msg)


def decode_compressed(format_field: str, data: BufferLike, *, max_pixels: int | None = None) -> DecodedImage:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to BGR or grey.

    The size is read from the header first (:mod:`lednet_ros.msgs.image_headers`)
    and checked against ``max_pixels`` and the side and aspect limits of
    :func:`~lednet_ros.limits.check_image_size` (when ``max_pixels`` is
    given), so a decompression bomb is refused before OpenCV allocates
    anything. ``format`` is honoured (:func:`compressed_format`); a JPEG sent
    as ``png`` or the reverse is decoded as what it is.

    Raises:
        ImageEncodingError: an empty payload, a format or payload other than
            JPEG or PNG, a compressedDepth frame, a broken header, too many
            pixels, a payload OpenCV cannot decode (or that decodes to another
            size than its header says), or pixels other than 8- or 16-bit
            unsigned with 1, 3 or 4 channels.
    """
    buffer = byte_view(data)
    if buffer.size == 0:
        msg = f"empty compressed payload (format {format_field!r})"
        raise ImageEncodingError(msg)
    compressed_format(format_field)
    what = f"the compressed payload ({buffer.size} bytes, format {format_field!r})"
    try:
        header = read_header(memoryview(buffer))
    except ImageEncodingError as exc:
        msg = f"cannot decode {what} as JPEG or PNG: {exc}"
        raise ImageEncodingError(msg) from None
    if max_pixels is not None:
        check_image_size(header.width, header.height, max_pixels, f"{header.kind.upper()} image")
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. over OpenCV's own CV_IO_MAX_IMAGE_PIXELS
        reason = str(exc).strip().splitlines()[-1]
        msg = f"cannot decode {what} as {header.kind.upper()}: OpenCV refused it ({reason})"
        raise ImageEncodingError(msg) from None
    if image is None:
        msg = f"cannot decode {what} as JPEG or PNG"
        raise ImageEncodingError(msg)
    if image.shape[:2] != (header.height, header.width):
        msg = f"cannot decode {what} as JPEG or PNG: its header says {header.width}x{header.height}, the data {image.shape[1]}x{image.shape[0]}"
        raise ImageEncodingError(msg)
    # OpenCV also decodes float (PFM, Radiance HDR, TIFF) and signed (TIFF) images, which have no 8-bit meaning
    # here: `>> 8` raised TypeError on floats and wrapped negative values (found by test_image_conv_fuzz.py).
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype not in (np.uint8, np.uint16) or channels not in (1, 3, 4):
        msg = f"cannot decode {what} to 8-bit pixels: it holds {channels}-channel {image.dtype} pixels"
        raise ImageEncodingError(msg)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # 16-bit PNG
    if image.ndim == 2:
        return DecodedImage(image, "mono", zero_copy=False)
    if image.shape[2] == 4:
        image = image[..., :3]
    return DecodedImage(image, "bgr", zero_copy=False)


def encode_image(pixels: np.ndarray, encoding: str) -> tuple[int, int, int, array.array]:
    """Fields ``(height, width, step, data)`` of an unpadded little-endian image message.

    ``mono8`` takes HxW uint8, ``rgb8``/``bgr8`` HxWx3 uint8. ``data`` is an
    ``array.array('B')`` filled with one copy: rclpy's generated setter takes
    that as it is, while bytes or lists are checked element by element (slow).

    Raises:
        ImageEncodingError: the array does not fit the encoding.
    """
    expected = {"mono8": 2, "rgb8": 3, "bgr8": 3}
    if encoding not in expected:
        msg = f"cannot encode {encoding!r}: use mono8, rgb8 or bgr8"
        raise ImageEncodingError(msg)
    if pixels.dtype != np.uint8 or pixels.ndim != expected[encoding] or (pixels.ndim == 3 and pixels.shape[2] != 3):
        msg = f"{encoding} needs {'HxW' if encoding == 'mono8' else 'HxWx3'} uint8, got {pixels.dtype} {pixels.shape}"
        raise ImageEncodingError(msg)
    contiguous = np.ascontiguousarray(pixels)
    height, width = contiguous.shape[:2]
    data = array.array("B")
    # The flat view, not memoryview(contiguous).cast("B"), which raised TypeError on an empty (0xW or Hx0) array.
    data.frombytes(memoryview(contiguous.reshape(-1)))
    # Not contiguous.strides[0]: NumPy calls a one-row (or empty) array contiguous whatever its row stride, so a row
    # sliced out of a taller array gave step = the parent's row size (found by test_image_conv_fuzz.py).
    step = width * (3 if contiguous.ndim == 3 else 1)
    return height, width, step, data
