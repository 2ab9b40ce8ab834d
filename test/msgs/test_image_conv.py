"""Image message decoding, encoding by encoding, against OpenCV's conversions."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.image import SUPPORTED_ENCODINGS, decode_compressed, decode_image, encode_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def padded(rows: np.ndarray, pad: int) -> tuple[int, bytes]:
    """Message layout of ``rows`` (H x row_bytes uint8) with ``pad`` garbage bytes after each row."""
    height, row_bytes = rows.shape
    out = RNG.integers(0, 256, (height, row_bytes + pad), dtype=np.uint8)
    out[:, :row_bytes] = rows
    return row_bytes + pad, out.tobytes()


DRIVER_CONVERSIONS = {  # how a driver holding RGB pixels would fill the message, per OpenCV
    "rgb8": None,
    "bgr8": cv2.COLOR_RGB2BGR,
    "rgba8": cv2.COLOR_RGB2RGBA,
    "bgra8": cv2.COLOR_RGB2BGRA,
}


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("encoding", sorted(DRIVER_CONVERSIONS))
def test_colour_encodings_are_zero_copy_views_that_honour_step(encoding: str, pad: int) -> None:
    code = DRIVER_CONVERSIONS[encoding]
    pixels = RGB if code is None else cv2.cvtColor(RGB, code)
    step, data = padded(pixels.reshape(6, -1), pad)
    decoded = decode_image(encoding, 6, 10, step, 0, array.array("B", data))
    assert decoded.zero_copy
    assert decoded.order == ("rgb" if encoding.startswith("rgb") else "bgr")
    as_rgb = np.ascontiguousarray(decoded.pixels)
    if decoded.order == "bgr":
        as_rgb = cv2.cvtColor(as_rgb, cv2.COLOR_BGR2RGB)
    assert np.array_equal(as_rgb, RGB)


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8_is_a_view_and_mono16_scales_both_endiannesses(pad: int) -> None:
    grey = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)
    step, data = padded(grey, pad)
    decoded = decode_image("mono8", 6, 10, step, 0, data)
    assert decoded.zero_copy and decoded.order == "mono" and np.array_equal(decoded.pixels, grey)
    words = RNG.integers(0, 65536, (6, 10), dtype=np.uint16)
    for big, dtype in [(0, "<u2"), (1, ">u2")]:
        step16, data16 = padded(words.astype(dtype).view(np.uint8).reshape(6, 20), pad)
        out = decode_image("mono16", 6, 10, step16, big, data16)
        assert np.array_equal(out.pixels, (words >> 8).astype(np.uint8)), f"is_bigendian={big}"


@pytest.mark.parametrize(
    ("encoding", "code"), [("yuv422", cv2.COLOR_YUV2RGB_UYVY), ("yuv422_yuy2", cv2.COLOR_YUV2RGB_YUY2)]
)
def test_yuv422_matches_opencv_with_padded_rows(encoding: str, code: int) -> None:
    packed = RNG.integers(16, 236, (6, 10, 2), dtype=np.uint8)
    step, data = padded(packed.reshape(6, 20), 4)
    decoded = decode_image(encoding, 6, 10, step, 0, data)
    assert decoded.order == "rgb"
    assert np.array_equal(decoded.pixels, cv2.cvtColor(packed, code))


def test_uyvy_and_yuyv_differ_only_in_byte_order() -> None:
    uyvy = RNG.integers(16, 236, (4, 8, 2), dtype=np.uint8).reshape(4, 16)
    yuyv = uyvy.reshape(4, 8, 2)[..., ::-1].reshape(4, 16)  # swap each (chroma, luma) pair
    a = decode_image("yuv422", 4, 8, 16, 0, uyvy.tobytes()).pixels
    b = decode_image("yuv422_yuy2", 4, 8, 16, 0, np.ascontiguousarray(yuyv).tobytes()).pixels
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("encoding", "pattern"),
    [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"), ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")],
)
def test_bayer_patterns_demosaic_a_flat_colour_back_to_that_colour(encoding: str, pattern: str) -> None:
    colour = {"R": 200, "G": 120, "B": 40}
    mosaic = np.zeros((16, 16), dtype=np.uint8)
    for (dy, dx), name in zip([(0, 0), (0, 1), (1, 0), (1, 1)], pattern, strict=True):
        mosaic[dy::2, dx::2] = colour[name]
    step, data = padded(mosaic, 6)
    decoded = decode_image(encoding, 16, 16, step, 0, data)
    assert decoded.order == "rgb"
    interior = decoded.pixels[2:-2, 2:-2].reshape(-1, 3)
    assert np.abs(interior.astype(int) - [200, 120, 40]).max() <= 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("rgb16", 2, 2, 12, 0, bytes(24)), "unsupported encoding 'rgb16'"),
        (("rgb8", 0, 2, 6, 0, b""), "empty image"),
        (("rgb8", 2, 2, 5, 0, bytes(10)), "step 5 is smaller than width x pixel size = 6"),
        (("rgb8", 2, 2, 6, 0, bytes(11)), "data holds 11 bytes but step x height = 6 x 2 = 12"),
        (("rgb8", 2, 2, 6, 0, bytes(13)), "data holds 13 bytes"),
        (("yuv422", 2, 3, 6, 0, bytes(12)), "needs an even width"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(fields: tuple, message: str) -> None:
    with pytest.raises(ImageEncodingError, match=message):
        decode_image(*fields)


def test_too_many_pixels_are_rejected_before_anything_is_read() -> None:
    with pytest.raises(ImageEncodingError, match="more than max_input_pixels = 99"):
        decode_image("mono8", 10, 10, 10, 0, bytes(100), max_pixels=99)


def test_every_supported_encoding_decodes_to_engine_input() -> None:
    sizes = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "mono16": 2, "16UC1": 2}
    for encoding in SUPPORTED_ENCODINGS:
        bytes_per_pixel = sizes.get(encoding, 2 if "yuv" in encoding or encoding in {"uyvy", "yuyv"} else 1)
        decoded = decode_image(encoding, 4, 6, 6 * bytes_per_pixel, 0, bytes(24 * bytes_per_pixel))
        assert decoded.pixels.dtype == np.uint8
        assert decoded.pixels.shape in {(4, 6), (4, 6, 3)}, encoding


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_compressed_payloads_decode_like_opencv(extension: str) -> None:
    ok, payload = cv2.imencode(extension, RGB[..., ::-1])
    assert ok
    decoded = decode_compressed(extension[1:], payload.tobytes())
    assert decoded.order == "bgr"
    assert np.array_equal(decoded.pixels, cv2.imdecode(payload, cv2.IMREAD_COLOR))
    grey_ok, grey = cv2.imencode(extension, cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY))
    assert grey_ok and decode_compressed("png", grey).order == "mono"


def test_garbage_and_empty_compressed_payloads_are_rejected() -> None:
    with pytest.raises(ImageEncodingError, match="cannot decode the compressed payload"):
        decode_compressed("jpeg", b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ImageEncodingError, match="empty compressed payload"):
        decode_compressed("jpeg", b"")
    _, payload = cv2.imencode(".png", RGB)
    with pytest.raises(ImageEncodingError, match="more than max_input_pixels"):
        decode_compressed("png", payload, max_pixels=10)


@pytest.mark.parametrize(("encoding", "pixels"), [("mono8", RGB[..., 0]), ("rgb8", RGB), ("bgr8", RGB[:, ::-1])])
def test_encode_then_decode_round_trips(encoding: str, pixels: np.ndarray) -> None:
    height, width, step, data = encode_image(pixels, encoding)
    decoded = decode_image(encoding, height, width, step, 0, data)
    assert np.array_equal(decoded.pixels, pixels)
    with pytest.raises(ImageEncodingError, match="cannot encode"):
        encode_image(pixels, "rgba8")
