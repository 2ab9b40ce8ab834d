"""The organised cloud and the masks at its grid: what Nav2's semantic segmentation layer reads point for pixel.

The layer walks the mask row by row and advances one cloud point per pixel,
so the cloud must hold a point per grid cell (NaN where there is no depth)
and the mask must be resampled to exactly that grid. ``pointcloud2`` (PyPI,
the port of ``sensor_msgs_py.point_cloud2``) reads the messages back as a
consumer would. The node end to end is in ``test/ros/test_nav2_contract.py``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pointcloud2
import pytest

from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import (
    POINT_DTYPE,
    POINT_FIELDS,
    Intrinsics,
    cloud_fields,
    cloud_grid,
    nearest_pixels,
    organized_cloud,
    semantic_cloud,
    to_cloud_grid,
)
from lednet_ros.resources import config_file

K = Intrinsics(fx=300.0, fy=320.0, cx=80.0, cy=60.0, width=160, height=120)
PALETTE = load_class_config(config_file("cityscapes.yaml")).palette()


def depth_with_holes(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A slanted surface with 0, NaN, inf and negative depth scattered over it."""
    rng = np.random.default_rng(seed)
    depth = (1.0 + np.linspace(0, 3, height)[:, None] + np.zeros((1, width))).astype(np.float32)
    holes = rng.random((height, width))
    depth[holes < 0.1] = 0.0
    depth[(holes >= 0.1) & (holes < 0.15)] = np.nan
    depth[(holes >= 0.15) & (holes < 0.18)] = np.inf
    depth[(holes >= 0.18) & (holes < 0.2)] = -1.0
    return depth


def labels_of(height: int, width: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 19, (height, width), dtype=np.uint8)


def message(points: np.ndarray) -> SimpleNamespace:
    """A PointCloud2 look-alike of ``cloud_fields`` (the node fills the real one from the same dict)."""
    fields = [SimpleNamespace(name=n, offset=o, datatype=t, count=c) for n, o, t, c in POINT_FIELDS]
    return SimpleNamespace(fields=fields, **cloud_fields(points))


@pytest.mark.parametrize(
    ("depth_size", "stride"), [((120, 160), 1), ((60, 80), 1), ((120, 160), 2), ((121, 161), 2), ((120, 160), 3)]
)
def test_one_point_per_grid_cell_nan_exactly_where_depth_is_invalid(depth_size: tuple[int, int], stride: int) -> None:
    depth = depth_with_holes(*depth_size)
    labels = labels_of(120, 160)
    points = organized_cloud(depth, K, labels, PALETTE, stride=stride)
    rows, cols = cloud_grid(depth.shape, stride)
    assert points.shape == (len(rows), len(cols)) == (-(-depth_size[0] // stride), -(-depth_size[1] // stride))
    sampled = depth[::stride, ::stride]
    invalid = ~(np.isfinite(sampled) & (sampled > 0))
    for axis in ("x", "y", "z"):
        assert np.array_equal(np.isnan(points[axis]), invalid), axis
    # Every point carries the label of its cell in the mask resampled to the grid, valid or not.
    grid_labels = to_cloud_grid(labels, depth.shape, stride)
    assert grid_labels.shape == points.shape and np.array_equal(points["label"], grid_labels)
    assert np.array_equal(points["rgb"].view(np.uint32) >> 16, PALETTE[grid_labels][..., 0])


def test_the_valid_points_are_the_packed_cloud_s_in_the_same_order() -> None:
    depth = depth_with_holes(60, 80)
    labels = labels_of(120, 160)
    for stride in (1, 2):
        packed = semantic_cloud(depth, K, labels, PALETTE, stride=stride)
        organized = organized_cloud(depth, K, labels, PALETTE, stride=stride).reshape(-1)
        valid = organized[~np.isnan(organized["z"])]
        assert len(valid) == len(packed)
        for name in ("x", "y", "z", "rgb", "label"):
            assert np.array_equal(valid[name], packed[name]), name


def test_the_grid_point_back_projects_to_its_own_pixel() -> None:
    depth = np.full((120, 160), 2.0, np.float32)
    points = organized_cloud(depth, K, labels_of(120, 160), PALETTE, stride=2)
    rows, cols = cloud_grid(depth.shape, 2)
    u = np.round(points["x"] / points["z"] * K.fx + K.cx).astype(int)
    v = np.round(points["y"] / points["z"] * K.fy + K.cy).astype(int)
    assert np.array_equal(u, np.broadcast_to(cols, u.shape))
    assert np.array_equal(v, np.broadcast_to(rows[:, None], v.shape))


def test_the_message_reads_back_organised_with_row_step_width_times_point_step() -> None:
    depth = depth_with_holes(60, 80)
    points = organized_cloud(depth, K, labels_of(60, 80), PALETTE, stride=2)
    cloud = message(points)
    assert (cloud.height, cloud.width) == (30, 40) and not cloud.is_dense and not cloud.is_bigendian
    assert cloud.point_step == POINT_DTYPE.itemsize and cloud.row_step == cloud.width * cloud.point_step
    assert len(cloud.data) == cloud.row_step * cloud.height
    back = pointcloud2.read_points(cloud, reshape_organized_cloud=True)
    assert back.shape == (30, 40)
    for name in ("x", "y", "z", "rgb", "label"):
        assert np.array_equal(back[name], points[name], equal_nan=name != "label"), name
    # The reader's own NaN filter gives the packed cloud.
    dense = pointcloud2.read_points(cloud, skip_nans=True)
    assert np.array_equal(dense["label"], semantic_cloud(depth, K, labels_of(60, 80), PALETTE, stride=2)["label"])


def test_the_packed_message_stays_one_dense_row() -> None:
    points = semantic_cloud(depth_with_holes(60, 80), K, labels_of(60, 80), PALETTE)
    cloud = message(points)
    assert cloud.height == 1 and cloud.width == len(points) and cloud.is_dense
    assert bytes(cloud.data) == points.tobytes()
    with pytest.raises(ValueError, match="1-D or 2-D"):
        cloud_fields(np.zeros((2, 2, 2), POINT_DTYPE))


def test_masks_at_the_cloud_s_grid_are_nearest_neighbour_and_free_when_sizes_match() -> None:
    labels = labels_of(120, 160)
    assert to_cloud_grid(labels, (120, 160), 1) is labels  # depth at the image's size: nothing to do
    half = to_cloud_grid(labels, (60, 80), 1)  # depth at half size: the pixel whose centre is nearest
    assert half.shape == (60, 80) and np.array_equal(half, labels[1::2, 1::2])
    strided = to_cloud_grid(labels, (120, 160), 2)
    assert strided.shape == (60, 80) and np.array_equal(strided, labels[::2, ::2])
    double = to_cloud_grid(labels, (240, 320), 1)  # depth finer than the mask: each label twice
    assert np.array_equal(double, np.repeat(np.repeat(labels, 2, 0), 2, 1))
    confidence = np.arange(120 * 160, dtype=np.uint32).reshape(120, 160)
    assert np.array_equal(to_cloud_grid(confidence, (60, 80), 2), confidence[np.ix_(
        nearest_pixels(np.arange(0, 60, 2), 60, 120), nearest_pixels(np.arange(0, 80, 2), 80, 160))])  # fmt: skip
    with pytest.raises(ValueError, match="at least 1"):
        to_cloud_grid(labels, (120, 160), 0)
