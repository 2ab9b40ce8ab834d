"""compressedDepth frames for the tests, built from the plugin's documented layout, not with the code under test.

The layout (image_transport_plugins, ``compressed_depth_image_transport``):
a 12-byte little-endian header ``{int32 format = 0; float32 a; float32 b}``,
then a 16-bit grey PNG or ``uint32 width, uint32 height`` and an RVL stream.
32FC1 depth is quantized as ``q = (uint16)(a / depth + b)`` below
``depth_max`` (else 0), ``a = z0 (z0 + 1)``, ``b = 1 - a / depth_max``,
all in float32. The RVL encoder here is a plain per-pixel loop: slow, but
written straight from the codec's description (3-bit groups, lowest first,
continuation bit on top, nibbles filling 32-bit words from the top).
"""

from __future__ import annotations

import struct

import cv2
import numpy as np


def config_header(a: float = 0.0, b: float = 0.0, kind: int = 0) -> bytes:
    """The 12-byte ConfigHeader: format, depthParam[0], depthParam[1]."""
    return struct.pack("<iff", kind, a, b)


def quantize(depth: np.ndarray, depth_max: float = 10.0, z0: float = 100.0) -> tuple[np.ndarray, float, float]:
    """The plugin's inverse-depth quantization of float32 metres: (uint16 q, a, b)."""
    a = np.float32(z0) * (np.float32(z0) + np.float32(1.0))
    b = np.float32(1.0) - a / np.float32(depth_max)
    # False for NaN; 0 m (no return) gives a / 0 = inf, whose cast to uint16 is undefined in C++ and 0 on x86.
    valid = (depth < np.float32(depth_max)) & (depth > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(valid, np.trunc(a / np.where(valid, depth, 1).astype(np.float32) + b), 0)
    return q.astype(np.uint16), float(a), float(b)


def dequantize(q: np.ndarray, a: float, b: float) -> np.ndarray:
    """What a decoder gives back for q: a / (q - b) in float32, NaN for 0."""
    out = np.float32(a) / (q.astype(np.float32) - np.float32(b))
    out[q == 0] = np.nan
    return out


def _vle(value: int, nibbles: list[int]) -> None:
    while True:
        nibble = value & 7
        value >>= 3
        nibbles.append(nibble | (8 if value else 0))
        if not value:
            return


def rvl_stream(image: np.ndarray) -> bytes:
    """The RVL stream (no size prefix) of a uint16 image."""
    values = [int(v) for v in image.reshape(-1)]
    nibbles: list[int] = []
    previous = index = 0
    while index < len(values):
        zeros = 0
        while index < len(values) and values[index] == 0:
            zeros, index = zeros + 1, index + 1
        run = []
        while index < len(values) and values[index] != 0:
            run.append(values[index])
            index += 1
        _vle(zeros, nibbles)
        _vle(len(run), nibbles)
        for current in run:
            delta = current - previous
            _vle((delta << 1) ^ (delta >> 31), nibbles)  # zigzag: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...
            previous = current
    nibbles += [0] * (-len(nibbles) % 8)
    words = [int("".join(f"{n:x}" for n in nibbles[i : i + 8]), 16) for i in range(0, len(nibbles), 8)]
    return struct.pack(f"<{len(words)}I", *words)


def rvl_payload(image: np.ndarray) -> bytes:
    """Width, height (uint32 little-endian), then the RVL stream."""
    return struct.pack("<II", image.shape[1], image.shape[0]) + rvl_stream(image)


def png_payload(image: np.ndarray) -> bytes:
    """A 16-bit grey PNG of a uint16 image."""
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def frame(encoding: str, codec: str, depth: np.ndarray, *, suffix: str | None = None,
          depth_max: float = 10.0) -> tuple[str, bytes]:  # fmt: skip
    """(format, data) of a compressedDepth frame as the plugin publishes ``depth`` (uint16 mm or float32 m).

    ``suffix`` overrides the format's tail (``"; compressedDepth"``: the older form without the codec).
    """
    a = b = 0.0
    if encoding == "32FC1":
        pixels, a, b = quantize(depth, depth_max)
    else:
        pixels = np.where(depth > np.uint16(depth_max * 1000), 0, depth).astype(np.uint16)
    payload = png_payload(pixels) if codec == "png" else rvl_payload(pixels)
    tail = f"; compressedDepth {codec}" if suffix is None else suffix
    return encoding + tail, config_header(a, b) + payload
