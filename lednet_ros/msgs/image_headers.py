"""The size a JPEG or PNG says it has, read from its header alone, before any pixel is decoded.

A 0.8 MB PNG can describe 16384 x 16384 pixels, and ``cv2.imdecode``
allocates whatever the header says before it finds out that the data is
short (issue 17: peak RSS +1.5 GB for one frame). So the header is read
here first: a PNG's IHDR chunk (which must be the first chunk, and whose CRC
is checked), a JPEG's first start-of-frame marker (SOF0 to SOF15, bar DHT,
JPG and DAC, found by walking the marker segments). libpng and libjpeg take
the size from these same places, so what is checked here is what the
decoder will allocate; :func:`~lednet_ros.msgs.image.decode_compressed`
checks the decoded shape against it as well.

Only JPEG and PNG are read: they are what ``sensor_msgs/CompressedImage``
carries (image_transport's ``compressed`` plugin writes nothing else).
Everything else (TIFF, BMP, WebP, GIF, PPM ...) is refused by name.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from lednet_ros.errors import ImageEncodingError

__all__ = ["JPEG_MAGIC", "PNG_MAGIC", "ImageHeader", "payload_kind", "read_header"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8"

_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
"""PNG colour type -> the bit depths the PNG specification allows with it."""
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_PNG_MAX_SIDE = 2**31 - 1

# Start-of-frame markers: 0xC0-0xCF without DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_EOI, _SOS = 0xD9, 0xDA

Kind = Literal["jpeg", "png"]


@dataclass(frozen=True)
class ImageHeader:
    """What a header says: format, size, channels and bits per channel."""

    kind: Kind
    width: int
    height: int
    channels: int
    bit_depth: int


def payload_kind(data: bytes | memoryview) -> Kind | None:
    """``jpeg`` or ``png`` by the payload's signature; None for anything else."""
    head = bytes(data[:8])
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def read_header(data: bytes | memoryview) -> ImageHeader:
    """The header of a JPEG or PNG payload; nothing past the header is read.

    Raises:
        ImageEncodingError: not JPEG or PNG, or a header that is truncated or
            malformed (the message says which).
    """
    kind = payload_kind(data)
    if kind == "png":
        return _png_header(memoryview(data))
    if kind == "jpeg":
        return _jpeg_header(memoryview(data))
    msg = f"not JPEG or PNG (starts with {bytes(data[:8])!r})"
    raise ImageEncodingError(msg)


def _png_header(data: memoryview) -> ImageHeader:
    """IHDR: the first chunk, 13 bytes of width, height, depth, colour type and three methods, then its CRC."""
    if len(data) < 33:
        msg = f"PNG header truncated ({len(data)} bytes, IHDR needs 33)"
        raise ImageEncodingError(msg)
    length, chunk = struct.unpack(">I4s", data[8:16])
    if chunk != b"IHDR" or length != 13:
        msg = f"PNG does not start with a 13-byte IHDR chunk (got {bytes(chunk)!r} of {length} bytes)"
        raise ImageEncodingError(msg)
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        msg = "PNG IHDR chunk fails its CRC"
        raise ImageEncodingError(msg)
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if not (0 < width <= _PNG_MAX_SIDE and 0 < height <= _PNG_MAX_SIDE):
        msg = f"PNG IHDR size {width}x{height} is invalid"
        raise ImageEncodingError(msg)
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        msg = f"PNG IHDR is invalid (bit depth {depth}, colour type {colour})"
        raise ImageEncodingError(msg)
    return ImageHeader("png", width, height, _PNG_CHANNELS[colour], depth)


def _jpeg_header(data: memoryview) -> ImageHeader:
    """Walk the marker segments from SOI to the first SOF; its size is the image's (libjpeg refuses a second SOF)."""
    position = 2
    end = len(data)
    while True:
        while position < end and data[position] != 0xFF:
            position += 1  # bytes between segments: libjpeg skips them too (with a warning)
        while position < end and data[position] == 0xFF:
            position += 1  # fill bytes
        if position >= end:
            msg = "JPEG header truncated before its start-of-frame marker"
            raise ImageEncodingError(msg)
        marker = data[position]
        position += 1
        if marker == 0x00 or marker in _STANDALONE:
            continue  # FF 00 is a stuffed data byte, not a marker: libjpeg scans on past it too
        if marker in (_EOI, _SOS):
            msg = f"JPEG has no start-of-frame marker before {'EOI' if marker == _EOI else 'SOS'}"
            raise ImageEncodingError(msg)
        if position + 2 > end:
            msg = "JPEG header truncated in a segment length"
            raise ImageEncodingError(msg)
        (length,) = struct.unpack(">H", data[position : position + 2])
        if length < 2:
            msg = f"JPEG segment 0x{marker:02X} has an invalid length {length}"
            raise ImageEncodingError(msg)
        if marker in _SOF_MARKERS:
            return _jpeg_frame(data[position : position + length], marker)
        position += length


def _jpeg_frame(segment: memoryview, marker: int) -> ImageHeader:
    """A SOF segment: length, precision, height, width, component count, then 3 bytes per component."""
    if len(segment) < 8:
        msg = f"JPEG start-of-frame 0x{marker:02X} truncated ({len(segment)} bytes)"
        raise ImageEncodingError(msg)
    length, precision, height, width, components = struct.unpack(">HBHHB", segment[:8])
    if length != 8 + 3 * components or len(segment) < length:
        msg = f"JPEG start-of-frame 0x{marker:02X} is malformed (length {length}, {components} components)"
        raise ImageEncodingError(msg)
    if height == 0 or width == 0:
        # Height 0 means "given later by a DNL marker", which libjpeg does not support either.
        msg = f"JPEG start-of-frame gives an empty size {width}x{height}"
        raise ImageEncodingError(msg)
    if components not in (1, 3, 4) or precision not in (8, 12, 16):
        msg = f"JPEG with {components} components of {precision} bits is not supported"
        raise ImageEncodingError(msg)
    return ImageHeader("jpeg", width, height, components, precision)
