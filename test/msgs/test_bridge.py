"""cv_bridge's API (lednet_ros.msgs.bridge) against rosbags-image, a maintained port of cv_bridge's conversions.

Both directions, encoding by encoding, on unpadded rows (rosbags-image
ignores ``step``); padded rows and big-endian data against the unpadded
native result; and against cv_bridge itself where it is importable (a ROS 2
install; the PyPI ``cv-bridge`` is a ROS 1 copy that breaks on NumPy 2, so
that test is skipped here).
"""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.image import ImageConversionError, compressed_image_to_cvimage, image_to_cvimage

from lednet_ros.msgs.bridge import (
    CvBridge,
    CvBridgeError,
    compressed_imgmsg_to_cv2,
    cv2_to_compressed_imgmsg,
    cv2_to_imgmsg,
    encoding_info,
    imgmsg_to_cv2,
)

COLOUR = ["mono8", "mono16", "bgr8", "rgb8", "bgra8", "rgba8", "bgr16", "rgb16", "bgra16", "rgba16",
          "yuv422", "uyvy", "yuv422_yuy2", "yuyv", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8",
          "bayer_rggb16", "bayer_bggr16", "bayer_gbrg16", "bayer_grbg16"]  # fmt: skip
GENERIC = ["8UC1", "8UC3", "8SC2", "16UC1", "16SC3", "32SC1", "32FC1", "32FC3", "64FC1", "8UC4"]
TARGETS = ["mono8", "mono16", "bgr8", "rgb8", "bgra8", "rgba8", "bgr16", "rgb16"]


def _message(encoding: str, height: int, width: int, *, big_endian: bool = False, pad: int = 0,
             seed: int = 0) -> tuple[SimpleNamespace, np.ndarray]:  # fmt: skip
    """A message with random pixels, and those pixels as a native array (H x W or H x W x C)."""
    info = encoding_info(encoding)
    rng = np.random.default_rng(seed)
    shape = (height, width, info.channels) if info.channels > 1 else (height, width)
    if np.issubdtype(info.dtype, np.floating):
        pixels = rng.normal(0, 100, shape).astype(info.dtype)
    else:
        limits = np.iinfo(info.dtype)
        pixels = rng.integers(limits.min, limits.max, shape, endpoint=True, dtype=info.dtype)
    wire = pixels.astype(info.dtype.newbyteorder(">" if big_endian else "<"))
    row = wire.reshape(height, -1).view(np.uint8)
    rows = np.zeros((height, row.shape[1] + pad), np.uint8)
    rows[:, : row.shape[1]] = row
    message = SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian),
                              step=rows.shape[1], data=rows.reshape(-1))  # fmt: skip
    return message, pixels


@pytest.mark.parametrize("encoding", COLOUR + GENERIC)
@pytest.mark.parametrize("big_endian", [False, True])
def test_passthrough_equals_rosbags_image(encoding: str, big_endian: bool) -> None:
    message, pixels = _message(encoding, 6, 8, big_endian=big_endian)
    ours = imgmsg_to_cv2(message)
    theirs = image_to_cvimage(message)
    assert ours.dtype.isnative and ours.dtype == pixels.dtype and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs, equal_nan=True) and np.array_equal(ours, pixels, equal_nan=True)


@pytest.mark.parametrize("encoding", [*COLOUR, "8UC3", "16UC1", "32FC1"])
@pytest.mark.parametrize("target", TARGETS)
def test_conversions_agree_with_rosbags_image(encoding: str, target: str) -> None:
    """The same success or refusal and the same pixels in the target's type.

    Where they differ by design: cv_bridge rounds 16 -> 8 bit (``convertTo``)
    where rosbags-image truncates (so +-1), and rosbags-image returns float64
    for 8 -> 16 bit. One rosbags-image bug is stepped around: it skips any
    conversion whose OpenCV code is 0 (``COLOR_BGR2BGRA`` = ``COLOR_RGB2RGBA``),
    so those are compared with ``cv2.cvtColor`` directly.
    """
    message, pixels = _message(encoding, 6, 8, seed=1)
    src, dst = encoding_info(encoding), encoding_info(target)
    try:
        theirs = image_to_cvimage(message, target)
    except (ImageConversionError, cv2.error):
        with pytest.raises(CvBridgeError):
            imgmsg_to_cv2(message, target)
        return
    ours = imgmsg_to_cv2(message, target)
    assert ours.dtype == dst.dtype and ours.shape[:2] == (6, 8)
    assert (ours.shape[2] if ours.ndim == 3 else 1) == dst.channels
    if src.layout in ("BGR", "RGB") and dst.layout == f"{src.layout}A":  # rosbags-image's code-0 bug
        theirs = cv2.cvtColor(pixels, cv2.COLOR_BGR2BGRA).astype(np.float64)
        theirs *= {(1, 2): 65535.0 / 255.0, (2, 1): 255.0 / 65535.0}.get((src.dtype.itemsize, dst.dtype.itemsize), 1.0)
    if src.layout is None and src.dtype.kind == "f":  # float -> integer: cv_bridge rounds and saturates, rosbags wraps
        theirs = np.clip(np.rint(pixels), np.iinfo(dst.dtype).min, np.iinfo(dst.dtype).max)
    difference = np.abs(ours.astype(np.float64) - np.rint(theirs.astype(np.float64)))
    assert difference.max() <= (1 if src.dtype.itemsize > dst.dtype.itemsize else 0)


@pytest.mark.parametrize("encoding", ["bgr8", "mono16", "yuv422", "32FC3", "bayer_grbg16"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_padded_rows_and_byte_order_give_the_unpadded_native_image(encoding: str, big_endian: bool) -> None:
    padded, pixels = _message(encoding, 5, 7, big_endian=big_endian, pad=6, seed=2)
    assert np.array_equal(imgmsg_to_cv2(padded), pixels, equal_nan=True)
    plain, _ = _message(encoding, 5, 7, seed=2)
    view = imgmsg_to_cv2(plain)
    assert np.shares_memory(view, plain.data), "unpadded native data is a view, as cv_bridge returns it"


@pytest.mark.parametrize("encoding", COLOUR + GENERIC)
def test_cv2_to_imgmsg_is_read_back_by_rosbags_image(encoding: str) -> None:
    _, pixels = _message(encoding, 4, 6, seed=3)
    message = CvBridge().cv2_to_imgmsg(pixels, encoding)
    assert (message.encoding, message.height, message.width) == (encoding, 4, 6)
    assert message.step * message.height == len(message.data) and message.is_bigendian == 0
    back = image_to_cvimage(SimpleNamespace(**{k: getattr(message, k) for k in ("height", "width", "encoding",
                            "is_bigendian", "step")}, data=np.frombuffer(bytes(message.data), np.uint8)))  # fmt: skip
    assert np.array_equal(back, pixels, equal_nan=True)


def test_passthrough_names_the_array_type_and_big_endian_arrays_are_flagged() -> None:
    image = np.arange(24, dtype=">u2").reshape(2, 4, 3)
    message = cv2_to_imgmsg(image)
    assert message.encoding == "16UC3" and message.is_bigendian == 1 and message.step == 24
    assert np.array_equal(imgmsg_to_cv2(message), image)
    assert cv2_to_imgmsg(np.zeros((2, 3), np.float32)).encoding == "32FC1"


@pytest.mark.parametrize(("extension", "image"), [
    ("png", np.random.default_rng(4).integers(0, 256, (12, 16, 3), dtype=np.uint8)),
    ("png", np.random.default_rng(5).integers(0, 256, (12, 16), dtype=np.uint8)),
    ("jpg", np.random.default_rng(6).integers(0, 256, (16, 16, 3), dtype=np.uint8)),
])  # fmt: skip
def test_compressed_both_ways_agree_with_rosbags_image(extension: str, image: np.ndarray) -> None:
    message = cv2_to_compressed_imgmsg(image, extension)
    assert message.format == extension
    ours = compressed_imgmsg_to_cv2(message)
    theirs = compressed_image_to_cvimage(SimpleNamespace(format=message.format, data=bytes(message.data)))
    assert np.array_equal(ours, theirs)
    if extension == "png":
        assert np.array_equal(ours, image)  # lossless
    if image.ndim == 3:
        assert np.array_equal(compressed_imgmsg_to_cv2(message, "rgb8"), ours[..., ::-1])
    else:
        assert compressed_imgmsg_to_cv2(message, "bgr8").shape == (*image.shape, 3)


def test_errors_are_cv_bridge_s() -> None:
    message, _ = _message("rgb8", 4, 4)
    with pytest.raises(CvBridgeError, match=r"Unrecognized image encoding \[rgb7\]"):
        imgmsg_to_cv2(SimpleNamespace(**{**vars(message), "encoding": "rgb7"}))
    with pytest.raises(CvBridgeError, match="the buffer holds"):
        imgmsg_to_cv2(SimpleNamespace(**{**vars(message), "data": message.data[:-1]}))
    with pytest.raises(CvBridgeError, match="step 5 is less than"):
        imgmsg_to_cv2(SimpleNamespace(**{**vars(message), "step": 5}))
    with pytest.raises(CvBridgeError, match="but image has incompatible type 8UC3"):
        cv2_to_imgmsg(np.zeros((2, 2, 3), np.uint8), "mono8")
    with pytest.raises(TypeError, match="not a numpy array"):
        cv2_to_imgmsg([[1, 2]])  # type: ignore[arg-type]
    with pytest.raises(CvBridgeError, match="cannot decode"):
        compressed_imgmsg_to_cv2(SimpleNamespace(format="jpeg", data=b"\xff\xd8 not a jpeg"))
    with pytest.raises(CvBridgeError):
        cv2_to_compressed_imgmsg(np.zeros((2, 2, 3), np.uint8), "nosuchformat")
    assert issubclass(CvBridgeError, TypeError)


@pytest.mark.skipif(importlib.util.find_spec("cv_bridge") is None,
                    reason="cv_bridge is not installable from PyPI here; runs on a ROS 2 install")  # fmt: skip
@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "mono16", "bgra16", "yuv422", "32FC1", "16SC3"])
def test_against_cv_bridge_itself(encoding: str) -> None:
    from cv_bridge import CvBridge as RealBridge

    real = RealBridge()
    _, pixels = _message(encoding, 6, 8, seed=7)
    ours = CvBridge().cv2_to_imgmsg(pixels, encoding)
    theirs = real.cv2_to_imgmsg(pixels, encoding)
    assert (ours.encoding, ours.step, bytes(ours.data)) == (theirs.encoding, theirs.step, bytes(theirs.data))
    assert np.array_equal(imgmsg_to_cv2(theirs), real.imgmsg_to_cv2(theirs), equal_nan=True)
    for target in TARGETS:
        try:
            expected = real.imgmsg_to_cv2(theirs, target)
        except Exception:
            with pytest.raises(CvBridgeError):
                imgmsg_to_cv2(theirs, target)
            continue
        assert np.array_equal(imgmsg_to_cv2(theirs, target), expected), target


def test_sys_byteorder_is_what_the_tests_assume() -> None:
    assert sys.byteorder == "little"  # the big-endian cases above are the non-native ones
    assert cv2.__version__
