"""The rest of cv_bridge's Python API: getCvType, cvtColorForDisplay, the type helpers and generic encodings to 512 channels.

Expected values come from cv_bridge's rules (cv_bridge/src/cv_bridge.cpp,
rolling), restated here: label colours are CSS named colours, negative
labels black; scaling is (value - min) * 255 / (max - min), rounded and
saturated; a flat image under dynamic scaling is 128 grey in three channels.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.image import image_to_cvimage

from lednet_ros.msgs.bridge import CvBridge, CvBridgeError, cv2_to_imgmsg, cvtColorForDisplay, getCvType, imgmsg_to_cv2

DEPTHS = {"8U": np.uint8, "8S": np.int8, "16U": np.uint16, "16S": np.int16, "32S": np.int32, "32F": np.float32,
          "64F": np.float64}  # fmt: skip


@pytest.mark.parametrize(("encoding", "expected"), [
    ("bgr8", cv2.CV_8UC3), ("rgba16", cv2.CV_16UC4), ("mono16", cv2.CV_16UC1), ("bayer_grbg8", cv2.CV_8UC1),
    ("yuv422", cv2.CV_8UC2), ("32FC1", cv2.CV_32FC1), ("64F", cv2.CV_64FC1), ("8SC4", cv2.CV_8SC4),
    ("16SC7", cv2.CV_16SC(7)), ("32SC512", cv2.CV_32SC(512)),
])  # fmt: skip
def test_get_cv_type_is_opencv_s_type_code(encoding: str, expected: int) -> None:
    assert getCvType(encoding) == expected
    bridge = CvBridge()
    assert bridge.encoding_to_cvtype2(encoding) == expected
    dtype, channels = bridge.cvtype2_to_dtype_with_channels(expected)
    assert (dtype, channels) == bridge.encoding_to_dtype_with_channels(encoding)


@pytest.mark.parametrize("encoding", ["rgb7", "8UC0", "8UC513", "32FC", "16UC1 ", "passthrough"])
def test_get_cv_type_refuses_what_is_no_encoding(encoding: str) -> None:
    with pytest.raises(CvBridgeError, match="Unrecognized image encoding"):
        getCvType(encoding)


@pytest.mark.parametrize("depth", list(DEPTHS))
@pytest.mark.parametrize("channels", [5, 13, 512])
def test_generic_encodings_beyond_four_channels_round_trip(depth: str, channels: int) -> None:
    rng = np.random.default_rng(channels)
    image = (rng.normal(0, 50, (3, 2, channels))).astype(DEPTHS[depth])
    message = cv2_to_imgmsg(image)
    assert message.encoding == f"{depth}C{channels}"
    assert message.step == 2 * channels * image.itemsize
    back = imgmsg_to_cv2(message)
    assert back.dtype == image.dtype and np.array_equal(back, image)
    assert np.array_equal(imgmsg_to_cv2(message, f"{depth}C{channels}"), image)
    # The explicit target cv_bridge refuses (its Python table stops at C4): accepted when it fits the array.
    assert cv2_to_imgmsg(image, f"{depth}C{channels}").encoding == f"{depth}C{channels}"
    assert CvBridge().dtype_with_channels_to_cvtype2(image.dtype, channels) == f"{depth}C{channels}"
    plain = SimpleNamespace(**{k: getattr(message, k) for k in ("height", "width", "encoding", "is_bigendian", "step")},
                            data=np.frombuffer(bytes(message.data), np.uint8))  # fmt: skip
    if channels <= 4:
        assert np.array_equal(image_to_cvimage(plain), image)


def test_generic_encodings_refuse_what_does_not_fit() -> None:
    image = np.zeros((2, 2, 5), np.uint8)
    with pytest.raises(CvBridgeError, match="incompatible type 8UC5"):
        cv2_to_imgmsg(image, "8UC6")
    with pytest.raises(CvBridgeError, match="1 to 512 channels"):
        cv2_to_imgmsg(np.zeros((2, 2, 513), np.uint8))
    message = cv2_to_imgmsg(image)
    with pytest.raises(CvBridgeError, match="not a color format"):
        imgmsg_to_cv2(message, "bgr8")
    with pytest.raises(CvBridgeError, match="do not have the same number of channel"):
        imgmsg_to_cv2(message, "8UC4")
    assert imgmsg_to_cv2(message, "16UC5").dtype == np.uint16  # same channels, another depth: converted


def test_labels_get_one_colour_per_value_and_negative_labels_are_black() -> None:
    labels = np.arange(-2, 298, dtype=np.int32).reshape(3, 100)
    shown = cvtColorForDisplay(labels, "32SC1", "bgr8")
    assert shown.shape == (3, 100, 3) and shown.dtype == np.uint8
    flat = shown.reshape(-1, 3)
    assert not flat[:2].any(), "the background label -1 and other negative labels are black"
    colours = {tuple(c) for c in flat[2:148]}
    assert len(colours) == 137, "146 names, 9 of them aliases (aqua/cyan, fuchsia/magenta, 7 gray/grey pairs)"
    assert np.array_equal(flat[2:148], flat[148:294]), "label i and i + 146 share a colour"
    assert tuple(flat[2 + 0]) == (255, 248, 239), "label 0: aliceblue (240, 248, 255) as 0.941, 0.973, 1 truncated, BGR"
    assert tuple(flat[2 + 9]) == (255, 0, 0), "label 9: blue, B first"
    assert np.array_equal(cvtColorForDisplay(labels, "32SC1", ""), shown), "an empty output means bgr8"
    scaled = cvtColorForDisplay(labels, "32SC1", "bgr8", do_dynamic_scaling=True)
    assert np.array_equal(scaled, shown), "label images ignore scaling"


def test_scaling_maps_the_range_to_8_bits() -> None:
    depth = np.array([[500, 1000], [1500, 3000]], np.uint16)
    shown = cvtColorForDisplay(depth, "16UC1", "mono8", min_image_value=1000, max_image_value=2000)
    assert np.array_equal(shown, [[0, 0], [128, 255]])  # 500 - 1000 saturates to 0; 127.5 rounds to even 128
    dynamic = cvtColorForDisplay(depth, "16UC1", "bgr8", do_dynamic_scaling=True)
    expected = np.rint((depth.astype(float) - 500) * 255 / 2500).astype(np.uint8)
    assert dynamic.shape == (2, 2, 3) and np.array_equal(dynamic[..., 0], expected)
    flat = cvtColorForDisplay(np.full((2, 3), 7.0, np.float32), "32FC1", "mono8", do_dynamic_scaling=True)
    assert flat.shape == (2, 3, 3) and (flat == 128).all(), "cv_bridge's mid grey, three channels"


def test_colormaps_colour_the_scaled_values_and_blacken_nan() -> None:
    depth = np.linspace(0.5, 5.0, 24, dtype=np.float32).reshape(4, 6)
    depth[0, 0] = np.nan
    depth[0, 1] = np.inf
    shown = cvtColorForDisplay(depth, "32FC1", "bgr8", True, 0.0, 0.0, cv2.COLORMAP_JET)
    finite = depth[np.isfinite(depth)]
    grey = np.rint((np.nan_to_num(depth, nan=0.0, posinf=1e9) - finite.min()) * 255 / (finite.max() - finite.min()))
    expected = cv2.applyColorMap(np.clip(grey, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    expected[0, 0] = 0
    assert np.array_equal(shown, expected)
    rgb = cvtColorForDisplay(depth, "32FC1", "rgb8", True, colormap=cv2.COLORMAP_JET)
    assert np.array_equal(rgb, shown[..., ::-1])
    with pytest.raises(CvBridgeError, match="colormap"):
        cvtColorForDisplay(depth, "32FC1", "bgr8", True, colormap=99)


def test_without_scaling_the_image_is_converted_or_returned() -> None:
    image = np.random.default_rng(3).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert cvtColorForDisplay(image, "bgr8", "bgr8") is image
    assert np.array_equal(cvtColorForDisplay(image, "rgb8", "bgr8"), image[..., ::-1])
    assert np.array_equal(cvtColorForDisplay(image, "bgr8", "mono8"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    depth = np.array([[0, 65535]], np.uint16)
    assert np.array_equal(cvtColorForDisplay(depth, "16UC1", "mono8"), [[0, 255]]), "16UC1 is shown as mono16"


@pytest.mark.parametrize(("source", "encoding_in", "encoding_out", "match"), [
    (np.zeros((2, 2), np.float32), "32FC1", "bgr8", "an exception was thrown"),
    (np.zeros((2, 2), np.float32), "32FC1", "bgr16", "8-bit mono or colour"),
    (np.zeros((2, 2), np.float64), "64FC1", "", "cannot be guessed"),
    (np.zeros((2, 2, 3), np.float32), "32FC3", "bgr8", "more than one channel"),
    (np.zeros((2, 2), np.uint8), "32SC1", "bgr8", "is not \\[32SC1\\]"),
    (np.zeros((2, 2), np.uint8), "rgb7", "bgr8", "Unrecognized image encoding"),
])  # fmt: skip
def test_display_refusals(source: np.ndarray, encoding_in: str, encoding_out: str, match: str) -> None:
    scaling = {"min_image_value": 0.0, "max_image_value": 1.0} if encoding_in == "32FC3" else {}
    with pytest.raises(CvBridgeError, match=match):
        cvtColorForDisplay(source, encoding_in, encoding_out, **scaling)
