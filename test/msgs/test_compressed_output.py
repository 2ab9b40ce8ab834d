"""Compressed outputs (lednet_ros.msgs.compressed_output) in image_transport's compressed plugin's form.

The format strings are the ones compressed_publisher.cpp writes (rolling),
spelt out here; each frame is decoded by the plugin subscriber's rules
(test/transport_rules.py) and compared with the raw image: exactly for PNG,
within JPEG's loss for JPEG.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from transport_rules import decode_like_compressed_subscriber

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.compressed_output import (
    DEFAULT_JPEG_QUALITY,
    codec_for,
    compressed_format_string,
    encode_compressed_output,
)

RNG = np.random.default_rng(27)
LABELS = RNG.integers(0, 19, (48, 64)).astype(np.uint8)
LABELS[:4] = 255  # ignore
SMOOTH = cv2.GaussianBlur(RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8), (9, 9), 3)


@pytest.mark.parametrize(("encoding", "codec", "expected"), [
    ("mono8", "png", "mono8; png compressed "),
    ("mono16", "png", "mono16; png compressed "),
    ("rgb8", "png", "rgb8; png compressed bgr8"),
    ("bgr8", "png", "bgr8; png compressed bgr8"),
    ("rgb16", "png", "rgb16; png compressed bgr16"),
    ("rgb8", "jpeg", "rgb8; jpeg compressed bgr8"),
    ("mono8", "jpeg", "mono8; jpeg compressed mono8"),
    ("mono16", "jpeg", "mono16; jpeg compressed mono8"),
])  # fmt: skip
def test_format_strings_are_the_plugin_s(encoding: str, codec: str, expected: str) -> None:
    assert compressed_format_string(encoding, codec) == expected  # type: ignore[arg-type]


def test_grey_outputs_are_png_and_colour_outputs_take_the_colour_format() -> None:
    assert codec_for("mono8", "jpeg") == "png" and codec_for("rgb8", "jpeg") == "jpeg"
    assert codec_for("rgb8", "png") == "png" and DEFAULT_JPEG_QUALITY == 95


def test_labels_as_png_decode_exactly() -> None:
    format_field, data = encode_compressed_output(LABELS, "mono8", "png")
    encoding, decoded = decode_like_compressed_subscriber(format_field, bytes(data))
    assert encoding == "mono8" and decoded.dtype == np.uint8 and np.array_equal(decoded, LABELS)
    assert bytes(data[:8]) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_colour_as_png_decodes_exactly_in_its_own_order(encoding: str) -> None:
    format_field, data = encode_compressed_output(SMOOTH, encoding, "png")
    decoded_encoding, decoded = decode_like_compressed_subscriber(format_field, bytes(data))
    assert decoded_encoding == encoding and np.array_equal(decoded, SMOOTH)


@pytest.mark.parametrize("quality", [95, 50])
def test_colour_as_jpeg_decodes_close_in_rgb_order(quality: int) -> None:
    format_field, data = encode_compressed_output(SMOOTH, "rgb8", "jpeg", jpeg_quality=quality)
    encoding, decoded = decode_like_compressed_subscriber(format_field, bytes(data))
    assert encoding == "rgb8" and decoded.shape == SMOOTH.shape and bytes(data[:2]) == b"\xff\xd8"
    error = np.abs(decoded.astype(int) - SMOOTH.astype(int)).mean()
    swapped = np.abs(decoded.astype(int) - SMOOTH[..., ::-1].astype(int)).mean()
    assert error < (2.0 if quality == 95 else 4.0) < swapped, "close to the image, not to its channels swapped"


def test_jpeg_quality_changes_the_size() -> None:
    sizes = [len(encode_compressed_output(SMOOTH, "rgb8", "jpeg", jpeg_quality=q)[1]) for q in (30, 95)]
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize(("pixels", "encoding", "codec", "kwargs", "match"), [
    (np.zeros((4, 4), np.float32), "32FC1", "png", {}, "mono or colour"),
    (np.zeros((4, 4), np.uint8), "mono8", "tiff", {}, "not one of"),
    (np.zeros((4, 4), np.uint8), "rgb8", "png", {}, "3-channel uint8"),
    (np.zeros((4, 4, 3), np.uint8), "rgb8", "jpeg", {"jpeg_quality": 0}, "jpeg_quality"),
    (np.zeros((4, 4), np.uint8), "mono8", "png", {"png_level": 10}, "png_level"),
    (np.zeros((4, 4), np.uint8), "rgb7", "png", {}, "Unrecognized"),
])  # fmt: skip
def test_what_the_plugin_does_not_compress_is_refused(pixels: np.ndarray, encoding: str, codec: str,
                                                      kwargs: dict, match: str) -> None:  # fmt: skip
    with pytest.raises(ImageEncodingError, match=match):
        encode_compressed_output(pixels, encoding, codec, **kwargs)  # type: ignore[arg-type]
