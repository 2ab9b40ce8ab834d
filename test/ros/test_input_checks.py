"""Checks of the node's inputs that need no node: camera_info sanity and start-up parameters (issue 17)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sensor_msgs.msg import CameraInfo, RegionOfInterest

from lednet_ros.errors import LednetError
from lednet_ros.ros.conversions import camera_info_problem, output_camera_info, scaled_camera_info
from lednet_ros.ros.parameters import PARAMETERS, check_values


def good_info(**changes: Any) -> CameraInfo:
    info = CameraInfo(width=640, height=480, k=[500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0])
    for name, value in changes.items():
        setattr(info, name, value)
    return info


def test_a_sane_camera_info_passes() -> None:
    assert camera_info_problem(good_info()) is None
    uncalibrated = good_info(k=[0.0] * 9, p=[0.0] * 12)  # what sensor_msgs prescribes for an uncalibrated camera
    assert camera_info_problem(uncalibrated) is None
    assert list(scaled_camera_info(uncalibrated, 1280, 960).k) == [0.0] * 9
    assert camera_info_problem(good_info(roi=RegionOfInterest(x_offset=10, y_offset=10, width=600, height=400))) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"roi": RegionOfInterest(x_offset=0, y_offset=0, width=3_000_000_000, height=10)}, "ROI"),
        ({"roi": RegionOfInterest(x_offset=600, y_offset=0, width=100, height=10)}, "ROI"),
        ({"k": [math.nan, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]}, "NaN or infinite"),
        ({"p": [math.inf] + [0.0] * 11}, "NaN or infinite"),
        ({"d": [0.0, math.nan, 0.0, 0.0, 0.0]}, "NaN or infinite"),
        ({"k": [0.0, 0.0, 320.0, 0.0, 0.0, 240.0, 0.0, 0.0, 1.0]}, "not positive"),
        ({"k": [500.0, 0.0, 320.0, 0.0, -1.0, 240.0, 0.0, 0.0, 1.0]}, "not positive"),
        ({"width": 0}, "empty"),
    ],
)
def test_insane_camera_info_is_refused_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    problem = camera_info_problem(good_info(**changes))
    assert problem is not None and reason in problem, problem


def test_a_scaled_roi_never_wraps_around() -> None:
    """Issue 17: a ROI of 3e9 scaled x2 went out as 1705032704; whatever comes in, the ROI stays in the image."""
    info = good_info(
        roi=RegionOfInterest(x_offset=2_000_000_000, y_offset=5, width=3_000_000_000, height=4_000_000_000)
    )
    out = scaled_camera_info(info, 1280, 960)
    assert out.roi.x_offset <= 1280 and out.roi.x_offset + out.roi.width <= 1280
    assert out.roi.y_offset + out.roi.height <= 960
    fine = output_camera_info(good_info(roi=RegionOfInterest(x_offset=10, y_offset=20, width=300, height=200)),
                              good_info().header, 1280, 960)  # fmt: skip
    assert (fine.roi.x_offset, fine.roi.y_offset, fine.roi.width, fine.roi.height) == (20, 40, 600, 400)


def values(**changes: Any) -> dict[str, Any]:
    defaults = {parameter.name: parameter.default for parameter in PARAMETERS}
    return {**defaults, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cameras": ["../x"]}, "parameter cameras='../x' gives an invalid topic '../x/image'"),
        ({"cameras": ["a b"]}, "gives an invalid topic 'a b/image'"),
        ({"cameras": ["{bad}"]}, "unknown substitution"),
        ({"cameras": ["cam//x"]}, "repeated '/'"),
        ({"depth_topic": "a b"}, "parameter depth_topic='a b' gives an invalid topic"),
        ({"warmup_image_sizes": ["65535x65535"]}, "warm-up size 65535x65535"),
        ({"warmup_image_sizes": ["20000x100"]}, "side over 16384"),
        ({"warmup_image_sizes": ["1920x1080"], "max_input_pixels": 1000}, "more than max_input_pixels = 1000"),
        ({"model_width": 8192, "model_height": 8192}, "model size 8192x8192"),
    ],
)
def test_start_up_values_that_would_end_in_a_traceback_or_a_huge_allocation_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(LednetError, match=message.replace("(", r"\(").replace("{", r"\{").replace("}", r"\}")) as error:
        check_values(values(**changes))
    assert ", at /" not in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "changes",
    [{"cameras": ["", "/front", "rear/cam", "~/x", "{node}/y"]}, {"depth_topic": "depth/image_rect"},
     {"warmup_image_sizes": ["1920x1080", "3840x2160"]}, {"model_width": 4096, "model_height": 2048}],
)  # fmt: skip
def test_usual_values_still_pass(changes: dict[str, Any]) -> None:
    check_values(values(**changes))


@pytest.mark.parametrize(
    ("size", "ok"), [((640, 480), True), ((1280, 960), True), ((320, 240), True), ((641, 480), True),
                     ((640, 640), False), ((4000, 4000), False), ((480, 640), False)],
)  # fmt: skip
def test_depth_frames_must_match_their_camera_info_s_aspect(size: tuple[int, int], ok: bool) -> None:
    from lednet_ros.errors import ImageEncodingError
    from lednet_ros.ros.depth import _check_matches_camera_info

    if ok:
        _check_matches_camera_info(*size, good_info())
    else:
        with pytest.raises(ImageEncodingError, match="does not match its camera_info's 640x480"):
            _check_matches_camera_info(*size, good_info())
