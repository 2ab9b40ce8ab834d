"""The semantic point cloud without ROS: pinhole back-projection, labels and colours, pairing, the message layout.

Clouds are read back with ``pointcloud2`` (PyPI), a port of
``sensor_msgs_py.point_cloud2`` (not installable here); on a ROS 2 install
the same checks run against ``sensor_msgs_py`` too. The node end to end is
in ``test/ros/test_node_cloud.py``.
"""

from __future__ import annotations

import importlib.util
import time
from types import SimpleNamespace

import numpy as np
import pointcloud2
import pytest

from lednet_ros.data.synthetic import street_scene
from lednet_ros.errors import ImageEncodingError
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import (
    POINT_DTYPE,
    POINT_FIELDS,
    Intrinsics,
    cloud_fields,
    decode_depth,
    pack_rgb,
    semantic_cloud,
)
from lednet_ros.msgs.stamps import StampPairing
from lednet_ros.resources import config_file

K = Intrinsics(fx=300.0, fy=320.0, cx=80.0, cy=60.0, width=160, height=120)
PALETTE = load_class_config(config_file("cityscapes.yaml")).palette()


def test_a_plane_back_projects_through_the_pinhole_model() -> None:
    depth = np.full((120, 160), 2.5, np.float32)
    labels = (np.arange(120 * 160).reshape(120, 160) % 19).astype(np.uint8)
    points = semantic_cloud(depth, K, labels, PALETTE)
    assert points.dtype == POINT_DTYPE and len(points) == 120 * 160
    v, u = np.divmod(np.arange(120 * 160), 160)
    np.testing.assert_allclose(points["x"], (u - 80.0) * 2.5 / 300.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(points["y"], (v - 60.0) * 2.5 / 320.0, rtol=1e-6, atol=1e-6)
    assert np.all(points["z"] == np.float32(2.5))
    assert np.array_equal(points["label"], labels.ravel())
    rgb = points["rgb"].view(np.uint32)
    colours = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], axis=1).astype(np.uint8)
    assert np.array_equal(colours, PALETTE[labels.ravel()])


def test_invalid_depth_never_becomes_a_point_and_stride_thins_the_grid() -> None:
    depth = np.full((120, 160), 1.0, np.float32)
    depth[0, :] = 0.0
    depth[1, :] = np.nan
    depth[2, :] = np.inf
    depth[3, :] = -1.0
    labels = np.zeros((120, 160), np.uint8)
    points = semantic_cloud(depth, K, labels, PALETTE)
    assert len(points) == 116 * 160 and np.isfinite(points["z"]).all() and (points["z"] > 0).all()
    strided = semantic_cloud(depth, K, labels, PALETTE, stride=4)  # rows 0, 4, 8, ...: row 0 invalid
    assert len(strided) == (30 - 1) * 40
    assert set(np.unique(np.round(strided["y"] / strided["z"] * 320 + 60))) == set(range(4, 120, 4))
    with pytest.raises(ValueError, match="at least 1"):
        semantic_cloud(depth, K, labels, PALETTE, stride=0)


def test_labels_of_another_resolution_are_resampled_by_nearest_neighbour() -> None:
    labels = np.zeros((60, 80), np.uint8)
    labels[:, 40:] = 13  # right half: car
    depth = np.full((120, 160), 3.0, np.float32)
    points = semantic_cloud(depth, K, labels, PALETTE)
    u = np.round(points["x"] / points["z"] * 300 + 80).astype(int)
    assert np.all(points["label"][u < 80] == 0) and np.all(points["label"][u >= 80] == 13)
    # A camera_info for twice the depth resolution is scaled to it.
    half = semantic_cloud(np.full((60, 80), 3.0, np.float32), K, labels, PALETTE)
    assert np.allclose(half["x"].min(), points["x"].min(), atol=0.02)


@pytest.mark.parametrize(("encoding", "dtype", "scale"), [("16UC1", "u2", 0.001), ("32FC1", "f4", 1.0)])
@pytest.mark.parametrize("big_endian", [False, True])
def test_depth_decodes_with_padding_and_either_byte_order(encoding: str, dtype: str, scale: float, big_endian: bool) -> None:  # fmt: skip
    values = np.arange(1, 13, dtype=dtype).reshape(3, 4) * (1000 if dtype == "u2" else 1)
    order = ">" if big_endian else "<"
    rows = values.astype(order + dtype).tobytes()
    size = values.dtype.itemsize
    padded = b"".join(rows[r * 4 * size : (r + 1) * 4 * size] + b"\xab" * 6 for r in range(3))
    metres = decode_depth(encoding, 3, 4, 4 * size + 6, big_endian, padded)
    np.testing.assert_allclose(metres, values * scale, rtol=1e-6)
    with pytest.raises(ImageEncodingError, match="data holds"):
        decode_depth(encoding, 3, 4, 4 * size + 6, big_endian, padded[:-1])
    with pytest.raises(ImageEncodingError, match="not one of"):
        decode_depth("rgb8", 3, 4, 12, False, bytes(36))


def test_pack_rgb_is_rviz_s_layout() -> None:
    packed = pack_rgb(np.array([[255, 128, 1]], np.uint8))
    assert packed.dtype == np.float32 and int(packed.view(np.uint32)[0]) == 0x00FF8001


def test_pairing_matches_nearest_stamps_from_either_side_and_counts_the_unpaired() -> None:
    pairing: StampPairing[str, str] = StampPairing(tolerance_ns=10)
    assert pairing.add_right(100, "depth100") is None
    assert pairing.add_left(105, "seg105") == ("seg105", "depth100")  # depth first (the usual case on a CPU)
    assert pairing.add_left(200, "seg200") is None
    assert pairing.add_right(195, "depth195") == ("seg200", "depth195")  # segmentation first (a fast GPU)
    assert pairing.add_right(300, "depth300") is None
    assert pairing.add_left(350, "seg350") is None  # 50 ns away: outside the tolerance
    assert pairing.add_right(352, "depth352") == ("seg350", "depth352")
    assert pairing.unpaired_right == 1  # depth300 was older than a pair and went unused
    for stamp in range(1000, 1000 + 20 * 100, 100):
        pairing.add_right(stamp, "lonely")
    assert pairing.unpaired_right == 1 + 20 - pairing.keep


def test_the_fields_read_back_with_sensor_msgs_py_s_layout() -> None:
    depth = np.full((120, 160), 2.0, np.float32)
    points = semantic_cloud(depth, K, np.full((120, 160), 8, np.uint8), PALETTE, stride=2)
    message = _cloud_message(points)
    back = pointcloud2.read_points(message)
    assert back.dtype.names == ("x", "y", "z", "rgb", "label")
    for name in back.dtype.names:
        assert np.array_equal(back[name], points[name])
    if importlib.util.find_spec("sensor_msgs_py") is None:
        return  # not installable from PyPI; on a ROS 2 install the next lines run too
    from sensor_msgs_py import point_cloud2

    assert np.array_equal(point_cloud2.read_points_numpy(message, ["x", "y", "z"]).ravel()[:3],
                          np.array([points["x"][0], points["y"][0], points["z"][0]]))  # fmt: skip


def _cloud_message(points: np.ndarray) -> SimpleNamespace:
    """A PointCloud2 look-alike (any object with its fields reads back): the node fills the real one the same way."""
    fields = [SimpleNamespace(name=n, offset=o, datatype=t, count=c) for n, o, t, c in POINT_FIELDS]
    return SimpleNamespace(fields=fields, **cloud_fields(points))


def test_cloud_fields_describe_an_unorganised_dense_cloud_and_refuse_other_arrays() -> None:
    points = semantic_cloud(np.full((4, 6), 1.0, np.float32), K, np.zeros((4, 6), np.uint8), PALETTE)
    fields = cloud_fields(points)
    assert (fields["height"], fields["width"], fields["point_step"], fields["row_step"]) == (1, 24, 20, 480)
    assert fields["is_dense"] and not fields["is_bigendian"] and bytes(fields["data"]) == points.tobytes()
    with pytest.raises(ValueError, match="POINT_DTYPE"):
        cloud_fields(np.zeros(3, np.float32))


def test_building_a_vga_cloud_is_fast_enough_to_measure() -> None:
    """Not a timing assertion: prints the time for the closing note (see benchmarks/README.md)."""
    depth = street_scene(640, 480, seed=1).depth.astype(np.float32)
    labels = street_scene(640, 480, seed=1).labels
    intrinsics = Intrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    semantic_cloud(depth, intrinsics, labels, PALETTE)
    started = time.perf_counter()
    for _ in range(10):
        points = semantic_cloud(depth, intrinsics, labels, PALETTE)
    print(f"640x480 cloud of {len(points)} points: {(time.perf_counter() - started) * 100:.1f} ms")
    assert len(points) > 0
