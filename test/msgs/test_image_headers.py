"""The JPEG/PNG header reader and the checks ``decode_compressed`` makes with it before decoding (issue 17).

Generated payloads (seeded hypothesis): every real JPEG and PNG OpenCV
writes gives its true size; every truncation either gives that same size or
is refused; a header that lies about its size is refused before decoding
when the lie breaks a limit, and otherwise fails as a clean
``ImageEncodingError``, never as another exception or a wrong image.
"""

from __future__ import annotations

import contextlib
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lednet_ros.errors import ImageEncodingError, ImageTooLargeError
from lednet_ros.limits import DEFAULT_MAX_PIXELS, check_image_size
from lednet_ros.msgs.image import compressed_format, decode_compressed
from lednet_ros.msgs.image_headers import read_header

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def encoded(extension: str, width: int, height: int, channels: int, seed: int, dtype: type = np.uint8) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels > 1 else (height, width)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    ok, payload = cv2.imencode(extension, pixels)
    assert ok
    return payload.tobytes()


def png_with_size(payload: bytes, width: int, height: int) -> bytes:
    """``payload`` (a PNG) with IHDR claiming ``width`` x ``height``, its CRC fixed: a lie only the data tells."""
    ihdr = bytearray(payload[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    return payload[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + payload[33:]


def jpeg_with_size(payload: bytes, width: int, height: int) -> bytes:
    """``payload`` (a baseline JPEG) with its SOF0 claiming ``width`` x ``height``."""
    at = payload.index(b"\xff\xc0")
    return payload[: at + 5] + struct.pack(">HH", height, width) + payload[at + 9 :]


images = st.tuples(
    st.sampled_from([".png", ".jpg"]), st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3]),
    st.integers(0, 2**32 - 1),
)  # fmt: skip


@SETTINGS
@given(image=images)
def test_the_header_gives_the_size_opencv_decodes(image: tuple[str, int, int, int, int]) -> None:
    extension, width, height, channels, seed = image
    payload = encoded(extension, width, height, channels, seed)
    header = read_header(payload)
    assert (header.kind, header.width, header.height) == ("png" if extension == ".png" else "jpeg", width, height)
    decoded = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape[:2] == (height, width)


@SETTINGS
@given(image=images, cut=st.floats(0, 1, exclude_max=True))
def test_a_truncated_payload_gives_the_true_size_or_is_refused(image: tuple[str, int, int, int, int],
                                                               cut: float) -> None:  # fmt: skip
    extension, width, height, channels, seed = image
    payload = encoded(extension, width, height, channels, seed)
    prefix = payload[: int(cut * len(payload))]
    try:
        header = read_header(prefix)
    except ImageEncodingError:
        return
    assert (header.width, header.height) == (width, height)


@SETTINGS
@given(image=images, damage=st.binary(min_size=1, max_size=40), at=st.integers(0, 200))
def test_damaged_headers_are_refused_cleanly_or_read(image: tuple[str, int, int, int, int], damage: bytes,
                                                     at: int) -> None:  # fmt: skip
    """Bytes overwritten anywhere in the first 240: ``read_header`` and ``decode_compressed`` raise nothing else."""
    extension, width, height, channels, seed = image
    payload = bytearray(encoded(extension, width, height, channels, seed))
    payload[at : at + len(damage)] = damage
    with contextlib.suppress(ImageEncodingError):
        read_header(bytes(payload))
    try:
        decoded = decode_compressed("", bytes(payload), max_pixels=DEFAULT_MAX_PIXELS)
    except ImageEncodingError:
        return
    header = read_header(bytes(payload))  # what decoded must have agreed with
    assert decoded.pixels.shape[:2] == (header.height, header.width)


@SETTINGS
@given(
    image=images,
    claimed=st.tuples(st.integers(1, 70000), st.integers(1, 70000)),
    max_pixels=st.sampled_from([None, 64 * 64, DEFAULT_MAX_PIXELS]),
)
def test_headers_that_lie_about_the_size_are_refused_before_decoding_or_fail_cleanly(
    image: tuple[str, int, int, int, int], claimed: tuple[int, int], max_pixels: int | None
) -> None:
    extension, width, height, channels, seed = image
    payload = encoded(extension, width, height, channels, seed)
    claimed_width, claimed_height = claimed
    if extension == ".png":
        lying = png_with_size(payload, claimed_width, claimed_height)
    else:
        claimed_width, claimed_height = min(claimed_width, 65535), min(claimed_height, 65535)
        lying = jpeg_with_size(payload, claimed_width, claimed_height)
    header = read_header(lying)
    assert (header.width, header.height) == (claimed_width, claimed_height)
    over_limit = False
    if max_pixels is not None:
        try:
            check_image_size(claimed_width, claimed_height, max_pixels)
        except ImageTooLargeError:
            over_limit = True
    if over_limit:
        with pytest.raises(ImageTooLargeError):
            decode_compressed("", lying, max_pixels=max_pixels)
        return
    if claimed_width * claimed_height > 4096 * 4096:
        return  # within no limit (max_pixels None) and large: decoding is what the limits are for; not tried here
    try:
        decoded = decode_compressed("", lying, max_pixels=max_pixels)
    except ImageEncodingError:
        return
    assert decoded.pixels.shape[:2] == (claimed_height, claimed_width)  # libjpeg/libpng fill missing rows


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (lambda: png_with_size(encoded(".png", 16, 16, 3, 0), 16384, 16384), "16384x16384"),
        (lambda: png_with_size(encoded(".png", 16, 16, 3, 0, np.uint16), 20000, 20000), "20000x20000"),
        (lambda: png_with_size(encoded(".png", 16, 16, 1, 0), 60000, 60000), "60000x60000"),
        (lambda: jpeg_with_size(encoded(".jpg", 16, 16, 3, 0), 65500, 65500), "65500x65500"),
        (lambda: png_with_size(encoded(".png", 16, 16, 1, 0), 1, 8294400), "1x8294400"),
        (lambda: jpeg_with_size(encoded(".jpg", 16, 16, 1, 0), 8000, 100), "8000x100"),
    ],
)
def test_the_bombs_of_issue_17_are_refused_from_their_header(make, size: str) -> None:
    with pytest.raises(ImageTooLargeError, match=size):
        decode_compressed("png", make(), max_pixels=DEFAULT_MAX_PIXELS)


def test_a_size_opencv_refuses_is_an_image_encoding_error_not_cv2_error() -> None:
    """Without a pixel limit, OpenCV's own (CV_IO_MAX_IMAGE_PIXELS) refusal comes out as one clean error."""
    with pytest.raises(ImageEncodingError, match=r"OpenCV refused it|cannot decode"):
        decode_compressed("png", png_with_size(encoded(".png", 16, 16, 1, 0), 60000, 60000))


@pytest.mark.parametrize(
    ("extension", "format_field"),
    [(".bmp", ""), (".tiff", ""), (".ppm", ""), (".webp", ""), (".png", "tiff"), (".png", "16UC1; compressedDepth png"),
     (".png", "32FC1; compressedDepth rvl"), (".png", "bmp")],
)  # fmt: skip
def test_only_jpeg_and_png_are_decoded_and_format_is_honoured(extension: str, format_field: str) -> None:
    if not cv2.haveImageWriter(f"x{extension}"):
        pytest.skip(f"OpenCV cannot write {extension} here")
    payload = encoded(extension, 8, 8, 3, 1)
    with pytest.raises(ImageEncodingError, match=r"not JPEG or PNG|compressedDepth"):
        decode_compressed(format_field, payload)


@pytest.mark.parametrize(
    ("format_field", "expected"),
    [("jpeg", "jpeg"), ("JPG", "jpeg"), ("png", "png"), ("rgb8; jpeg compressed bgr8", "jpeg"),
     ("bgr8; png compressed bgr8", "png"), ("", None), ("  ", None)],
)  # fmt: skip
def test_the_formats_image_transport_writes_are_understood(format_field: str, expected: str | None) -> None:
    assert compressed_format(format_field) == expected


def test_a_stuffed_ff00_cannot_hide_the_real_start_of_frame() -> None:
    """FF 00 after SOI is a stuffed data byte to libjpeg, not a marker with a length: reading it as one
    would land inside an APP1 segment on a decoy SOF (8x8) while libjpeg decodes the real one."""
    ok, encoded = cv2.imencode(".jpg", np.full((32, 64, 3), 128, np.uint8))
    assert ok
    real = encoded.tobytes()
    decoy_sof = bytes.fromhex("ffc0000b08000800080101 1100".replace(" ", ""))
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(decoy_sof)) + decoy_sof
    crafted = real[:2] + b"\xff\x00" + struct.pack(">H", 6) + app1 + real[2:]
    decoded = cv2.imdecode(np.frombuffer(crafted, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape[:2] == (32, 64)  # what libjpeg makes of it
    header = read_header(crafted)
    assert (header.width, header.height) == (64, 32)
