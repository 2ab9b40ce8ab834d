"""Property-based fuzzing (hypothesis) of image message decoding and encoding (issue #7, reliability).

Every input must either convert to the pixels an independent OpenCV / NumPy reference computes, or be
rejected with :class:`ImageEncodingError` whose message names a documented reason that really holds;
no other exception may escape, and no result may reach outside the message's bytes. Runs are
derandomized (and use no example database), so CI draws the same inputs every time.

What is fuzzed, and how many examples each test draws:

* ``test_valid_raw_messages_decode_like_the_reference`` (800): every encoding of
  ``SUPPORTED_ENCODINGS``, 1..40 x 1..40 pixels (even widths for YUV 4:2:2), rows padded by 0..16
  bytes (odd steps for 16-bit included: not a documented rejection), ``is_bigendian`` 0/1/False/True,
  random / zero / 0xff / ramp bytes, ``max_pixels`` None or at least the pixel count, in every buffer a
  message can carry
  (bytes, bytearray, guarded memoryview, array.array, NumPy arrays: contiguous, a slice of a larger
  buffer with random guard bytes on both sides, strided, reversed, uint16; strided memoryview).
* ``test_bayer_keeps_each_sampled_colour_at_its_site`` (200): all four Bayer patterns, checked
  without OpenCV's pattern names (bilinear demosaicing keeps each sample in its own channel).
* ``test_one_fault_is_rejected_with_its_reason`` (600): a valid message with one fault: truncated or
  oversized data, step below the row size, zero height, zero or negative width,
  unknown or near-miss encoding names, more pixels than ``max_pixels``, odd width for YUV 4:2:2.
* ``test_random_fields_decode_or_are_rejected_for_a_true_reason`` (800): every field random at once
  (negative heights and steps included); rejected exactly when a documented reason holds.
* ``test_compressed_payloads_decode_like_imdecode_or_are_rejected`` (800): random bytes, random bytes
  behind the magic numbers of every format OpenCV reads, and real JPEG / PNG / BMP / PNM / TIFF /
  WebP / HDR / PFM files (8-bit, 16-bit, float; 1, 3, 4 channels) intact, truncated, with flipped
  bytes or with garbage appended; random ``format`` strings and ``max_pixels``. Only JPEG and PNG
  whose header reads and whose ``format`` does not name another format (or compressedDepth) may decode.
* ``test_encode_image_round_trips_any_array_layout`` (300) and
  ``test_encode_image_rejects_what_it_cannot_encode`` (200): random shapes (empty included), C,
  Fortran, strided, reversed and one-row-of-a-taller-array layouts; wrong dtypes, ranks, channels
  and encodings.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.image import (
    SUPPORTED_ENCODINGS,
    DecodedImage,
    compressed_format,
    decode_compressed,
    decode_image,
    encode_image,
)
from lednet_ros.msgs.image_headers import read_header

# Bytes per pixel of each ROS encoding, from sensor_msgs/image_encodings (not from the module under test).
BYTES_PER_PIXEL = {
    "rgb8": 3,
    "bgr8": 3,
    "rgba8": 4,
    "bgra8": 4,
    "mono8": 1,
    "8UC1": 1,
    "mono16": 2,
    "16UC1": 2,
    "yuv422": 2,
    "uyvy": 2,
    "yuv422_yuy2": 2,
    "yuyv": 2,
    "bayer_rggb8": 1,
    "bayer_bggr8": 1,
    "bayer_gbrg8": 1,
    "bayer_grbg8": 1,
}
YUV_TO_BGR = {  # ROS "yuv422" is UYVY and "yuv422_yuy2" is YUYV (as in cv_bridge)
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
}
# The module documents no demosaicing algorithm, so the reference is what cv_bridge does for ROS Bayer
# encodings: OpenCV's bilinear demosaicing, whose pattern names are those of the 2x2 block starting at
# the second row and column (ROS rggb = OpenCV BG). test_bayer_keeps_each_sampled_colour_at_its_site
# checks the naming without trusting it.
BAYER_TO_BGR = {
    "bayer_rggb8": cv2.COLOR_BayerBG2BGR,
    "bayer_bggr8": cv2.COLOR_BayerRG2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGR2BGR,
    "bayer_grbg8": cv2.COLOR_BayerGB2BGR,
}
BAYER_PATTERNS = {"bayer_rggb8": "RGGB", "bayer_bggr8": "BGGR", "bayer_gbrg8": "GBRG", "bayer_grbg8": "GRBG"}
ZERO_COPY = {"rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1"}  # views of the buffer, as test_image_conv.py checks
ENCODINGS = tuple(sorted(SUPPORTED_ENCODINGS))
NEAR_MISSES = ["RGB8", "rgb16", "bgr16", "rgba16", "mono32", "32FC1", "16SC1", "8UC3", "bayer_rggb16", "nv12",
               "yuv420", "jpeg", "", " rgb8", "rgb8\x00", "mono8 ", "uyvy8", "Bayer_RGGB8"]  # fmt: skip

CONTAINERS = ["bytes", "bytearray", "memoryview", "array", "ndarray", "guarded", "strided", "reversed", "uint16",
              "memoryview_strided"]  # fmt: skip
GUARD = 16  # random bytes on each side of the message in the guarded containers


@dataclass(frozen=True)
class Message:
    """The fields of a ``sensor_msgs/Image``, as the node and the tools pass them to ``decode_image``."""

    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: int | bool
    data: object
    raw: bytes  # the logical bytes of ``data``

    def decode(self, max_pixels: int | None = None) -> DecodedImage:
        return decode_image(
            self.encoding, self.height, self.width, self.step, self.is_bigendian, self.data, max_pixels=max_pixels
        )


@dataclass(frozen=True)
class Carried:
    """A buffer holding some bytes, the memory it lives in, and the addresses of the bytes themselves."""

    data: object
    owner: np.ndarray  # all the memory allocated for ``data`` (guard bytes included)
    region: tuple[int, int] | None  # [start, end) addresses of the logical bytes; None if not contiguous


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def extent(a: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) byte addresses an array can touch."""
    low = high = address(a)
    if a.size == 0:
        return low, low
    for n, stride in zip(a.shape, a.strides, strict=True):
        if stride > 0:
            high += (n - 1) * stride
        else:
            low += (n - 1) * stride
    return low, high + a.itemsize


def carry(raw: bytes, kind: str, rng: np.random.Generator) -> Carried:
    """``raw`` in a buffer of the given kind; the logical bytes are always ``raw`` (C order)."""
    n = len(raw)
    source = np.frombuffer(raw, dtype=np.uint8)
    contiguous = True
    if kind in {"bytes", "bytearray", "array"}:  # exactly the message, nothing around it
        data = {"bytes": raw, "bytearray": bytearray(raw), "array": array.array("B", raw)}[kind]
        owner = np.frombuffer(data, dtype=np.uint8)
        start = address(owner)
    elif kind in {"memoryview", "guarded", "reversed"}:  # random guard bytes on both sides
        big = bytearray(rng.integers(0, 256, n + 2 * GUARD, dtype=np.uint8).tobytes())
        owner = np.frombuffer(big, dtype=np.uint8)
        start = address(owner) + GUARD
        if kind == "reversed":  # the logical order runs backwards through memory
            owner[GUARD : GUARD + n] = source[::-1]
            data, contiguous = owner[GUARD : GUARD + n][::-1], n <= 1
        else:
            owner[GUARD : GUARD + n] = source
            data = memoryview(big)[GUARD : GUARD + n] if kind == "memoryview" else owner[GUARD : GUARD + n]
    elif kind in {"strided", "memoryview_strided"}:  # every other byte, garbage in between
        big = bytearray(rng.integers(0, 256, 2 * n, dtype=np.uint8).tobytes())
        owner = np.frombuffer(big, dtype=np.uint8)
        owner[::2] = source
        data, start = (owner[::2] if kind == "strided" else memoryview(big)[::2]), address(owner)
        contiguous = n <= 1  # one byte is contiguous whatever its stride
    elif kind == "uint16" and n % 2 == 0:
        data = np.frombuffer(raw, dtype=np.uint16).copy()  # the same bytes in memory, as native words
        owner = data.view(np.uint8)
        start = address(owner)
    else:
        data = owner = source.copy()
        start = address(owner)
    return Carried(data, owner, (start, start + n) if contiguous else None)


def random_bytes(n: int, fill: str, rng: np.random.Generator) -> bytes:
    if fill == "zeros":
        return bytes(n)
    if fill == "ones":
        return b"\xff" * n
    if fill == "ramp":
        return (np.arange(n) % 256).astype(np.uint8).tobytes()
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def reference(encoding: str, packed: np.ndarray, width: int, big: bool) -> tuple[np.ndarray, str]:
    """Pixels and channel order of an unpadded (H x row bytes) image, computed with OpenCV / NumPy."""
    height = packed.shape[0]
    if encoding in {"rgb8", "bgr8"}:
        expected, order = packed.reshape(height, width, 3), encoding[:3]
    elif encoding in {"rgba8", "bgra8"}:
        code = cv2.COLOR_RGBA2RGB if encoding == "rgba8" else cv2.COLOR_BGRA2BGR
        expected, order = cv2.cvtColor(packed.reshape(height, width, 4), code), encoding[:3]
    elif encoding in {"mono8", "8UC1"}:
        expected, order = packed, "mono"
    elif encoding in {"mono16", "16UC1"}:  # documented: value / 256, i.e. the high byte (floor, as the code does)
        words = np.frombuffer(packed.tobytes(), dtype=np.dtype(">u2" if big else "<u2")).reshape(height, width)
        expected, order = (words // 256).astype(np.uint8), "mono"
    else:
        packed = packed.reshape(height, width, 2) if encoding in YUV_TO_BGR else packed
        bgr = cv2.cvtColor(packed, YUV_TO_BGR[encoding] if encoding in YUV_TO_BGR else BAYER_TO_BGR[encoding])
        expected, order = np.ascontiguousarray(bgr[..., ::-1]), "rgb"
    return expected, order


def as_rgb(pixels: np.ndarray, order: str) -> np.ndarray:
    if order == "mono":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) if order == "bgr" else pixels


@st.composite
def valid_messages(draw: st.DrawFn, encodings: tuple[str, ...] = ENCODINGS) -> tuple[Message, np.ndarray, Carried]:
    """A well-formed message; also its unpadded pixel bytes (H x row bytes) and its buffer."""
    encoding = draw(st.sampled_from(encodings))
    height = draw(st.integers(1, 40))
    width = 2 * draw(st.integers(1, 20)) if encoding in YUV_TO_BGR else draw(st.integers(1, 40))
    pad = draw(st.integers(0, 16))
    big = draw(st.sampled_from([0, 1, False, True]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    row_bytes = width * BYTES_PER_PIXEL[encoding]
    step = row_bytes + pad
    fill = draw(st.sampled_from(["random", "random", "zeros", "ones", "ramp"]))
    raw = random_bytes(step * height, fill, rng)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    carried = carry(raw, draw(st.sampled_from(CONTAINERS)), rng)
    return Message(encoding, height, width, step, big, carried.data, raw), packed, carried


def check_pixels(decoded: DecodedImage, expected: np.ndarray, order: str, label: str) -> None:
    assert decoded.order == order, label
    assert decoded.pixels.dtype == np.uint8, label
    assert decoded.pixels.shape == expected.shape, label
    assert np.array_equal(decoded.pixels, expected), label
    rgb = decoded.rgb()
    assert rgb.flags.c_contiguous and rgb.shape == (*expected.shape[:2], 3), label
    assert np.array_equal(rgb, as_rgb(np.ascontiguousarray(expected), order)), label


def check_memory(decoded: DecodedImage, carried: Carried, zero_copy: bool, label: str) -> None:
    """Zero-copy results lie inside the message's bytes; copies share nothing with the buffer."""
    assert decoded.zero_copy == zero_copy, label
    pixels = decoded.pixels
    if carried.region is not None and zero_copy:
        low, high = extent(pixels)
        assert carried.region[0] <= low and high <= carried.region[1], f"{label}: view reaches outside the data"
    elif np.may_share_memory(pixels, carried.owner):
        # a copy, or a view of a buffer that had to be made contiguous first: it must not touch the caller's memory
        pytest.fail(f"{label}: result overlaps the caller's buffer outside a zero-copy view")


@settings(max_examples=800, deadline=None, derandomize=True, database=None)
@given(case=valid_messages(), headroom=st.none() | st.integers(0, 50))
def test_valid_raw_messages_decode_like_the_reference(
    case: tuple[Message, np.ndarray, Carried], headroom: int | None
) -> None:
    message, packed, carried = case
    max_pixels = None if headroom is None else message.height * message.width + headroom  # boundary included
    decoded = message.decode(max_pixels)
    label = f"{message.encoding} {message.width}x{message.height} step {message.step} {type(message.data)}"
    expected, order = reference(message.encoding, packed, message.width, bool(message.is_bigendian))
    check_pixels(decoded, expected, order, label)
    check_memory(decoded, carried, message.encoding in ZERO_COPY, label)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(case=valid_messages(tuple(sorted(BAYER_PATTERNS))))
def test_bayer_keeps_each_sampled_colour_at_its_site(case: tuple[Message, np.ndarray, Carried]) -> None:
    message, packed, _ = case
    pixels = message.decode().pixels
    pattern = BAYER_PATTERNS[message.encoding]  # colour of the sites (0, 0), (0, 1), (1, 0), (1, 1)
    for site, colour in enumerate(pattern):
        dy, dx = divmod(site, 2)
        channel = "RGB".index(colour)
        # OpenCV fills the outermost rows and columns from their neighbours: compare the interior only
        got = pixels[dy::2, dx::2, channel]
        ys = np.arange(dy, message.height, 2)[:, None]
        xs = np.arange(dx, message.width, 2)[None, :]
        interior = (ys > 0) & (ys < message.height - 1) & (xs > 0) & (xs < message.width - 1)
        assert np.array_equal(got[interior], packed[dy::2, dx::2][interior]), f"{message.encoding} {colour}"


@st.composite
def faulty_messages(draw: st.DrawFn) -> tuple[Message, int | None, str]:
    """A valid message with one fault, the ``max_pixels`` to pass, and the reason the error must name."""
    message, _, _ = draw(valid_messages())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fault = draw(st.sampled_from(["truncated", "oversized", "step", "empty", "encoding", "pixels", "odd_yuv"]))
    size = message.step * message.height
    row_bytes = message.width * BYTES_PER_PIXEL[message.encoding]
    replace: dict[str, object] = {}
    max_pixels = None
    if fault == "truncated":
        n = draw(st.integers(0, size - 1))
        replace["raw"] = message.raw[:n]
        reason = f"data holds {n} bytes but step x height = {message.step} x {message.height} = {size}"
    elif fault == "oversized":
        n = size + draw(st.integers(1, 64))
        replace["raw"] = message.raw + random_bytes(n - size, "random", rng)
        reason = f"data holds {n} bytes but step x height"
    elif fault == "step":
        step = draw(st.integers(0, row_bytes - 1))  # negative steps: test_random_fields_...
        replace |= {"step": step, "raw": random_bytes(step * message.height, "random", rng)}
        reason = f"step {step} is smaller than width x pixel size = {row_bytes} for {message.encoding}"
    elif fault == "empty":
        if draw(st.booleans()):
            replace |= {"height": 0, "raw": b""}  # data still step x height
        else:
            replace["width"] = draw(st.integers(-3, 0))
        reason = f"empty image ({replace.get('width', message.width)}x{replace.get('height', message.height)})"
    elif fault == "encoding":
        encoding = draw(st.sampled_from(NEAR_MISSES) | st.text(max_size=12).filter(lambda s: s not in ENCODINGS))
        replace["encoding"] = encoding
        reason = f"unsupported encoding {encoding!r}"
    elif fault == "pixels":
        max_pixels = draw(st.integers(0, message.height * message.width - 1))
        reason = f"= {message.height * message.width} pixels is more than max_input_pixels = {max_pixels}"
    else:
        encoding = draw(st.sampled_from(sorted(YUV_TO_BGR)))
        width = 2 * draw(st.integers(0, 20)) + 1
        step = 2 * width + draw(st.integers(0, 16))
        replace |= {"encoding": encoding, "width": width, "step": step}
        replace["raw"] = random_bytes(step * message.height, "random", rng)
        reason = f"{encoding} needs an even width, got {width}"
    fields = {
        "encoding": message.encoding,
        "height": message.height,
        "width": message.width,
        "step": message.step,
        "is_bigendian": message.is_bigendian,
        "raw": message.raw,
    } | replace
    carried = carry(fields["raw"], draw(st.sampled_from(CONTAINERS)), rng)
    return Message(data=carried.data, **fields), max_pixels, reason


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(case=faulty_messages())
def test_one_fault_is_rejected_with_its_reason(case: tuple[Message, int | None, str]) -> None:
    message, max_pixels, reason = case
    with pytest.raises(ImageEncodingError) as error:
        message.decode(max_pixels)
    assert reason in str(error.value)


@settings(max_examples=800, deadline=None, derandomize=True, database=None)
@given(
    encoding=st.sampled_from(ENCODINGS) | st.sampled_from(NEAR_MISSES),
    height=st.integers(-2, 24),
    width=st.integers(-2, 24),
    step=st.integers(-4, 120),
    exact=st.booleans(),
    length=st.integers(0, 3000),
    big=st.sampled_from([0, 1]),
    max_pixels=st.none() | st.integers(0, 600),
    kind=st.sampled_from(CONTAINERS),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_fields_decode_or_are_rejected_for_a_true_reason(
    encoding: str,
    height: int,
    width: int,
    step: int,
    exact: bool,
    length: int,
    big: int,
    max_pixels: int | None,
    kind: str,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    size = max(step * height, 0) if exact else length
    raw = random_bytes(size, "random", rng)
    carried = carry(raw, kind, rng)
    message = Message(encoding, height, width, step, big, carried.data, raw)
    bytes_per_pixel = BYTES_PER_PIXEL.get(encoding, 1)
    reasons = {  # every documented reason, and whether it holds for these fields
        "unsupported encoding": encoding not in BYTES_PER_PIXEL,
        "empty image": height <= 0 or width <= 0,
        "more than max_input_pixels": max_pixels is not None and height * width > max_pixels,
        "needs an even width": encoding in YUV_TO_BGR and width % 2 == 1,
        "is smaller than width x pixel size": step < width * bytes_per_pixel,
        "data holds": size != step * height,
    }
    if any(reasons.values()):
        with pytest.raises(ImageEncodingError) as error:
            message.decode(max_pixels)
        named = [reason for reason in reasons if reason in str(error.value)]
        assert len(named) == 1 and reasons[named[0]], f"{error.value} / {reasons}"
        return
    decoded = message.decode(max_pixels)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(height, step)[:, : width * bytes_per_pixel]
    expected, order = reference(encoding, packed, width, bool(big))
    check_pixels(decoded, expected, order, encoding)
    check_memory(decoded, carried, encoding in ZERO_COPY, encoding)


# What cv2.imencode can write in this OpenCV build: (extension, dtype, channels).
ENCODABLE = [
    (extension, dtype, channels)
    for extension, dtype, channels in [
        (".jpg", np.uint8, 1),
        (".jpg", np.uint8, 3),
        (".png", np.uint8, 1),
        (".png", np.uint8, 3),
        (".png", np.uint8, 4),
        (".png", np.uint16, 1),
        (".png", np.uint16, 3),
        (".png", np.uint16, 4),
        (".bmp", np.uint8, 3),
        (".bmp", np.uint8, 4),
        (".pgm", np.uint16, 1),
        (".ppm", np.uint8, 3),
        (".tiff", np.uint8, 3),
        (".tiff", np.uint16, 1),
        (".tiff", np.float32, 1),
        (".tiff", np.float32, 3),
        (".webp", np.uint8, 3),
        (".webp", np.uint8, 4),
        (".hdr", np.float32, 3),
        (".pfm", np.float32, 1),
    ]
    if cv2.haveImageWriter(f"x{extension}")
]
MAGIC = [b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
         b"BM", b"P1\n", b"P2\n", b"P4\n", b"P5\n", b"P6\n", b"P7\n", b"PF\n", b"Pf\n", b"II*\x00", b"MM\x00*",
         b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"#?RADIANCE\n", b"\x59\xa6\x6a\x95", b"GIF89a", b"\x00\x00\x00\x0cjP  \r\n\x87\n",
         b"\x00\x00\x00\x1cftypavif", b"\xff\x0a", b"v/1\x01"]  # fmt: skip


@st.composite
def compressed_payloads(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(["random", "magic", "file", "file", "file"]))
    if source == "random":
        return draw(st.binary(max_size=300))
    if source == "magic":
        return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=200))
    extension, dtype, channels = draw(st.sampled_from(ENCODABLE))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24))) + ((channels,) if channels > 1 else ())
    if dtype == np.float32:
        image = rng.random(shape, dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    ok, encoded = cv2.imencode(extension, image)
    assert ok, extension
    payload = encoded.tobytes()
    damage = draw(st.sampled_from(["none", "truncate", "flip", "append"]))
    if damage == "truncate":
        return payload[: draw(st.integers(0, len(payload) - 1))]
    if damage == "flip":
        damaged = bytearray(payload)
        for _ in range(draw(st.integers(1, 8))):
            damaged[draw(st.integers(0, len(payload) - 1))] ^= draw(st.integers(1, 255))
        return bytes(damaged)
    if damage == "append":
        return payload + draw(st.binary(min_size=1, max_size=64))
    return payload


def format_accepted(format_field: str) -> bool:
    try:
        compressed_format(format_field)
    except ImageEncodingError:
        return False
    return True


def header_readable(payload: bytes) -> bool:
    try:
        read_header(payload)
    except ImageEncodingError:
        return False
    return True


def header_pixels(payload: bytes) -> int:
    header = read_header(payload)
    return header.width * header.height


@settings(max_examples=800, deadline=None, derandomize=True, database=None)
@given(
    payload=compressed_payloads(),
    format_field=st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth png", ""])
    | st.text(max_size=16),
    max_pixels=st.none() | st.integers(0, 600),
    kind=st.sampled_from(CONTAINERS),
    seed=st.integers(0, 2**32 - 1),
)
def test_compressed_payloads_decode_like_imdecode_or_are_rejected(
    payload: bytes, format_field: str, max_pixels: int | None, kind: str, seed: int
) -> None:
    carried = carry(payload, kind, np.random.default_rng(seed))
    reasons: list[str] = []
    image = None
    if not payload:
        reasons.append(f"empty compressed payload (format {format_field!r})")
    elif not format_accepted(format_field):  # compressedDepth, or a format naming neither JPEG nor PNG
        reasons += ["compressedDepth frame", "is not JPEG or PNG"]
    elif not header_readable(payload):  # not JPEG or PNG (BMP, TIFF ...), or a broken header: refused before decoding
        reasons.append(f"cannot decode the compressed payload ({len(payload)} bytes, format {format_field!r}) as")
    elif max_pixels is not None and header_pixels(payload) > max_pixels:  # refused from the header, not decoded
        reasons.append(f"pixels is more than max_input_pixels = {max_pixels}")
    else:
        image = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            reasons.append(f"cannot decode the compressed payload ({len(payload)} bytes, format {format_field!r}) as")
        else:
            channels = 1 if image.ndim == 2 else image.shape[2]
            if image.dtype not in (np.uint8, np.uint16) or channels not in (1, 3, 4):
                reasons.append(f"to 8-bit pixels: it holds {channels}-channel {image.dtype} pixels")
    if reasons:
        with pytest.raises(ImageEncodingError) as error:
            decode_compressed(format_field, carried.data, max_pixels=max_pixels)
        assert any(reason in str(error.value) for reason in reasons), f"{error.value} / {reasons}"
        return
    decoded = decode_compressed(format_field, carried.data, max_pixels=max_pixels)
    if image.dtype == np.uint16:  # 16-bit: value / 256, as for mono16
        image = (image // 256).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)  # alpha dropped
    check_pixels(decoded, image, "mono" if image.ndim == 2 else "bgr", f"{len(payload)} bytes")
    check_memory(decoded, carried, zero_copy=False, label="compressed")


@st.composite
def arrays_to_encode(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    encoding = draw(st.sampled_from(["mono8", "rgb8", "bgr8"]))
    height, width = draw(st.integers(0, 30)), draw(st.integers(0, 30))
    tail = () if encoding == "mono8" else (3,)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(["c", "fortran", "strided", "reversed", "row_of_taller", "transposed"]))
    if layout == "strided":
        pixels = rng.integers(0, 256, (2 * height, 3 * width, *tail), dtype=np.uint8)[::2, 1::3]
    elif layout == "row_of_taller":  # one row of a taller array: NumPy calls it contiguous whatever its stride
        pixels = rng.integers(0, 256, (2 * height + 2, width, *tail), dtype=np.uint8)[::2][:1]
    elif layout == "transposed":
        pixels = np.swapaxes(rng.integers(0, 256, (width, height, *tail), dtype=np.uint8), 0, 1)
    else:
        pixels = rng.integers(0, 256, (height, width, *tail), dtype=np.uint8)
        if layout == "fortran":
            pixels = np.asfortranarray(pixels)
        elif layout == "reversed":
            pixels = pixels[::-1, ::-1]
    return pixels, encoding


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(case=arrays_to_encode())
def test_encode_image_round_trips_any_array_layout(case: tuple[np.ndarray, str]) -> None:
    pixels, encoding = case
    height, width, step, data = encode_image(pixels, encoding)
    channels = 1 if encoding == "mono8" else 3
    assert (height, width) == pixels.shape[:2]
    assert step == width * channels  # unpadded, as documented
    assert isinstance(data, array.array) and data.typecode == "B"
    assert data.tobytes() == np.ascontiguousarray(pixels).tobytes()  # NumPy's C-order bytes
    assert not np.may_share_memory(np.frombuffer(data, dtype=np.uint8), pixels) or len(data) == 0
    if height and width:
        assert np.array_equal(decode_image(encoding, height, width, step, 0, data).pixels, pixels)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    encoding=st.sampled_from(["mono8", "rgb8", "bgr8", *ENCODINGS, *NEAR_MISSES]),
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4),
    dtype=st.sampled_from([np.uint8, np.uint16, np.int8, np.float32, np.bool_]),
)
def test_encode_image_rejects_what_it_cannot_encode(encoding: str, shape: list[int], dtype: type) -> None:
    pixels = np.zeros(shape, dtype=dtype)
    expected_ndim = {"mono8": 2, "rgb8": 3, "bgr8": 3}.get(encoding)
    if expected_ndim is None:
        with pytest.raises(ImageEncodingError, match="cannot encode"):
            encode_image(pixels, encoding)
    elif dtype != np.uint8 or pixels.ndim != expected_ndim or (pixels.ndim == 3 and shape[2] != 3):
        with pytest.raises(ImageEncodingError, match=f"{encoding} needs"):
            encode_image(pixels, encoding)
    else:
        height, width, step, data = encode_image(pixels, encoding)
        assert (height, width, step, len(data)) == (shape[0], shape[1], shape[1] * (shape[2:] or [1])[0], pixels.size)


def test_the_fuzzers_cover_every_supported_encoding() -> None:
    assert set(BYTES_PER_PIXEL) == SUPPORTED_ENCODINGS
    assert {".jpg", ".png"} <= {extension for extension, _, _ in ENCODABLE}
