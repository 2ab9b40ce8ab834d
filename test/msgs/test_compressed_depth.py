"""compressedDepth decoding (lednet_ros.msgs.compressed_depth, msgs.rvl) on frames built from the plugin's layout.

The frames come from test/depth_frames.py, written from the documented
layout (12-byte header, PNG or width/height + RVL), not from the decoder.
The cloud from a compressedDepth frame must equal the cloud from the raw
frame: exactly for 16UC1 (depths up to depth_max), and for 32FC1 the raw
frame after the plugin's quantization, NaN in the same places.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from bombs import png_bomb, png_chunk
from depth_frames import config_header, dequantize, frame, png_payload, quantize, rvl_payload, rvl_stream

from lednet_ros.errors import ImageEncodingError, ImageTooLargeError
from lednet_ros.msgs.cloud import Intrinsics, decode_depth, semantic_cloud
from lednet_ros.msgs.compressed_depth import (
    compressed_depth_in_metres,
    compressed_depth_size,
    decode_compressed_depth,
    parse_depth_format,
)
from lednet_ros.msgs.rvl import decode_rvl

RNG = np.random.default_rng(27)
MM = RNG.integers(300, 12000, (24, 32)).astype(np.uint16)
MM[RNG.random(MM.shape) < 0.2] = 0  # no return
METRES = RNG.uniform(0.3, 12.0, (24, 32)).astype(np.float32)
METRES[RNG.random(METRES.shape) < 0.1] = np.nan
INTRINSICS = Intrinsics(30.0, 30.0, 16.0, 12.0, 32, 24)
LABELS = RNG.integers(0, 19, (12, 16)).astype(np.uint8)
PALETTE = RNG.integers(0, 256, (256, 3)).astype(np.uint8)


def cloud(metres: np.ndarray) -> np.ndarray:
    return semantic_cloud(metres, INTRINSICS, LABELS, PALETTE)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_16uc1_gives_the_raw_frame_s_cloud(codec: str) -> None:
    format_field, data = frame("16UC1", codec, MM)
    encoding, pixels = decode_compressed_depth(format_field, data, max_pixels=32 * 24)
    kept = np.where(MM > 10000, 0, MM)  # the publisher's depth_max (10 m) zeroes what lies beyond
    assert encoding == "16UC1" and pixels.dtype == np.uint16 and np.array_equal(pixels, kept)
    raw = decode_depth("16UC1", 24, 32, 64, False, kept.tobytes())
    ours = compressed_depth_in_metres(format_field, data)
    assert np.array_equal(ours, raw)
    assert np.array_equal(cloud(ours), cloud(raw)) and len(cloud(ours)) > 400


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_32fc1_gives_the_cloud_of_the_quantized_raw_frame(codec: str) -> None:
    format_field, data = frame("32FC1", codec, METRES)
    q, a, b = quantize(METRES)
    quantized = dequantize(q, a, b)  # the raw frame after the plugin's quantization
    raw = decode_depth("32FC1", 24, 32, 128, False, quantized.tobytes())
    ours = compressed_depth_in_metres(format_field, data)
    assert np.array_equal(ours, raw, equal_nan=True)
    assert np.array_equal(np.isnan(ours), np.isnan(METRES) | (METRES >= 10.0)), "NaN where no depth or beyond depth_max"
    near = np.isfinite(METRES) & (METRES < 10.0)
    assert np.abs(ours[near] - METRES[near]).max() < 0.01 * 10.0**2 / 100, "the quantization step at 10 m is ~0.01 m"
    assert np.array_equal(cloud(ours), cloud(raw))


@pytest.mark.parametrize("format_field", ["16UC1; compressedDepth", "16UC1", "mono16; compressedDepth png"])
def test_older_format_strings_are_png(format_field: str) -> None:
    data = config_header() + png_payload(MM)
    encoding, pixels = decode_compressed_depth(format_field, data)
    assert encoding == format_field.split(";", maxsplit=1)[0] and np.array_equal(pixels, MM)


@pytest.mark.parametrize(("format_field", "match"), [
    ("16UC1; compressedDepth jpeg", "not a compressedDepth format"),
    ("16UC1; compressed png", "not a compressedDepth format"),
    ("rgb8; compressedDepth png", "not one of"),
    ("8UC1; compressedDepth rvl", "not one of"),
])  # fmt: skip
def test_formats_that_are_not_compressed_depth_are_refused(format_field: str, match: str) -> None:
    with pytest.raises(ImageEncodingError, match=match):
        parse_depth_format(format_field)


def test_rvl_codes_round_trip_edge_values() -> None:
    """Runs at the start and end, large steps both ways (zigzag), 65535, a single pixel."""
    image = np.array([[0, 0, 65535, 1, 65535, 0], [7, 0, 0, 0, 40000, 2]], np.uint16)
    assert np.array_equal(decode_rvl(memoryview(rvl_stream(image)), 6, 2), image)
    assert np.array_equal(decode_rvl(memoryview(rvl_stream(np.zeros((3, 3), np.uint16))), 3, 3), np.zeros((3, 3)))
    one = np.array([[513]], np.uint16)
    assert np.array_equal(decode_rvl(memoryview(rvl_stream(one)), 1, 1), one)


def _rvl_frame(payload: bytes, encoding: str = "16UC1") -> tuple[str, bytes]:
    return f"{encoding}; compressedDepth rvl", config_header(1000.0, -9.0) + payload


@pytest.mark.parametrize(("data", "error", "match"), [
    (config_header(), ImageEncodingError, "no payload after the 12-byte config header"),
    (config_header()[:7], ImageEncodingError, "no payload"),
    (struct.pack("<iff", 3, 0, 0) + png_payload(MM), ImageEncodingError, "config header format 3"),
    (config_header() + b"\xff\xd8\xff\xe0", ImageEncodingError, "not a PNG"),
    (config_header() + png_payload(MM)[:30], ImageEncodingError, "IHDR needs 33"),
    (config_header() + png_payload(MM)[:-20], ImageEncodingError, "does not decode"),
    (config_header() + png_bomb(16384, 16384), ImageTooLargeError, "more than max_input_pixels"),
    (config_header() + png_bomb(40, 30), ImageEncodingError, "8-bit 1-channel PNG"),
])  # fmt: skip
def test_hostile_png_frames_are_refused_before_decoding(data: bytes, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        decode_compressed_depth("16UC1; compressedDepth png", data, max_pixels=640 * 480)


def test_a_png_ihdr_that_lies_about_its_size_is_refused() -> None:
    payload = bytearray(png_payload(MM))
    payload[8:33] = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 16, 0, 0, 0, 0))  # says 64x48, holds 32x24
    with pytest.raises(ImageEncodingError, match="does not decode to the 64x48"):
        decode_compressed_depth("16UC1; compressedDepth png", config_header() + bytes(payload))


@pytest.mark.parametrize(("payload", "error", "match"), [
    (b"\x20\x00\x00", ImageEncodingError, "RVL payload truncated"),
    (struct.pack("<II", 0, 24) + b"\0" * 8, ImageEncodingError, "empty"),
    (struct.pack("<II", 100000, 100000), ImageTooLargeError, "more than max_input_pixels"),
    (struct.pack("<II", 16384, 1), ImageTooLargeError, "aspect ratio"),
    (struct.pack("<II", 2000, 20) + rvl_stream(np.ones((1, 8), np.uint16)), ImageTooLargeError, "aspect ratio"),
    (rvl_payload(MM)[:-40], ImageEncodingError, "ends"),
    (struct.pack("<II", 32, 12) + rvl_stream(MM), ImageEncodingError, "longer than any|overruns"),
    (struct.pack("<II", 4, 4) + rvl_stream(np.ones((4, 8), np.uint16)), ImageEncodingError, "overruns"),
    (struct.pack("<II", 4, 4) + b"\xff" * 4 + b"\x00\x00\xf0\xff", ImageEncodingError, "12 groups"),  # 12 nibbles
    (struct.pack("<II", 2, 2) + b"\0" * 64, ImageEncodingError, "longer than any"),
])  # fmt: skip
def test_hostile_rvl_frames_are_refused_before_allocating(payload: bytes, error: type, match: str) -> None:
    for encoding in ("16UC1", "32FC1"):
        with pytest.raises(error, match=match):
            decode_compressed_depth(*_rvl_frame(payload, encoding), max_pixels=640 * 480)


def test_32fc1_needs_usable_quantization_parameters() -> None:
    data = struct.pack("<iff", 0, float("nan"), 1.0) + rvl_payload(np.ones((2, 2), np.uint16))
    with pytest.raises(ImageEncodingError, match="quantization parameters"):
        decode_compressed_depth("32FC1; compressedDepth rvl", data)
    # 16UC1 frames carry uninitialised parameters: never read.
    encoding, _ = decode_compressed_depth("16UC1; compressedDepth rvl", data)
    assert encoding == "16UC1"


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_the_size_is_read_from_the_headers_alone(codec: str) -> None:
    format_field, data = frame("16UC1", codec, MM)
    assert compressed_depth_size(format_field, data) == (32, 24)
    assert compressed_depth_size(format_field, data[: 12 + 33 if codec == "png" else 12 + 8]) == (32, 24)
    with pytest.raises(ImageEncodingError, match="config header format 1"):
        compressed_depth_size(format_field, struct.pack("<iff", 1, 0, 0) + data[12:])
