"""The node's semantic point cloud end to end: a depth plane in, ``segmentation/points`` out.

The pure parts (back-projection, layout, pairing) are in ``test/msgs/test_cloud.py``.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pointcloud2
import pytest
import rclpy
from conftest import randomized_checkpoint
from ros_helpers import RELIABLE, Client, start_node, stop_node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import Intrinsics, semantic_cloud
from lednet_ros.resources import config_file
from lednet_ros.ros import diagnostics
from lednet_ros.ros.conversions import cloud_message

PALETTE = load_class_config(config_file("cityscapes.yaml")).palette()


def test_the_node_s_cloud_message_reads_back_with_sensor_msgs_py_s_layout() -> None:
    intrinsics = Intrinsics(fx=300.0, fy=320.0, cx=80.0, cy=60.0, width=160, height=120)
    points = semantic_cloud(np.full((120, 160), 2.0, np.float32), intrinsics, np.full((120, 160), 8, np.uint8), PALETTE)
    header = Image().header
    header.frame_id = "depth_optical"
    message = cloud_message(header, points)
    assert isinstance(message, PointCloud2) and message.header.frame_id == "depth_optical"
    back = pointcloud2.read_points(message)
    for name in ("x", "y", "z", "rgb", "label"):
        assert np.array_equal(back[name], points[name])


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(9)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "cloud.pt", checkpoint.build_model(), checkpoint.meta)


def check_plane_cloud(cloud: PointCloud2, expected: np.ndarray, stamp_sec: int) -> None:
    """The cloud of the 80x60 plane at 1.5 m (f = 100, c = (40, 30)), stride 2, rows 0-4 without depth."""
    assert cloud.header.frame_id == "depth_optical" and cloud.header.stamp.sec == stamp_sec
    points = pointcloud2.read_points(cloud)
    assert len(points) == (60 - 6) // 2 * 40  # every 2nd row from 6 on (rows 0-4 have no depth) and column
    assert np.allclose(points["z"], 1.5)
    v = np.round(points["y"] / points["z"] * 100 + 30).astype(int)
    u = np.round(points["x"] / points["z"] * 100 + 40).astype(int)
    assert v.min() == 6 and set(np.unique(u)) == set(range(0, 80, 2))
    agreement = float(np.mean(points["label"] == expected[v, u]))
    assert agreement >= 0.999, agreement
    rgb = points["rgb"].view(np.uint32)
    colours = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], axis=1).astype(np.uint8)
    assert np.array_equal(colours, PALETTE[points["label"]])


def test_the_node_publishes_a_semantic_cloud_of_a_depth_plane(weights: Path, tmp_path: Path) -> None:
    rclpy.init()
    log = tmp_path / "log"
    process = start_node("rgbd", log, f"weights:={weights}", "model_width:=64", "model_height:=32",
                         "depth_topic:=depth/image_rect", "cloud_stride:=2", "diagnostics_period:=0.3")  # fmt: skip
    client = Client("rgbd", outputs=())
    node = client.node
    clouds: list[PointCloud2] = []
    try:
        node.create_subscription(PointCloud2, "/rgbd/segmentation/points", clouds.append, RELIABLE)
        depth_pub = node.create_publisher(Image, "/rgbd/depth/image_rect", client.image.qos_profile)
        info_pub = node.create_publisher(CameraInfo, "/rgbd/depth/camera_info", RELIABLE)
        assert client.spin_until(
            lambda: depth_pub.get_subscription_count() > 0 and client.image.get_subscription_count() > 0, 60
        ), log.read_text()
        info = CameraInfo(width=80, height=60, k=[100.0, 0.0, 40.0, 0.0, 100.0, 30.0, 0.0, 0.0, 1.0])
        info.header.frame_id = "depth_optical"
        info_pub.publish(info)
        colour = street_scene(80, 60, seed=2).image
        millimetres = np.full((60, 80), 1500, np.uint16)
        millimetres[:5] = 0  # no return: no points
        stamp = 7_000_000_000
        depth = Image(height=60, width=80, encoding="16UC1", step=160, data=millimetres.tobytes())
        depth.header.stamp.sec, depth.header.frame_id = 7, "depth_optical"

        def send() -> None:
            depth_pub.publish(depth)  # the depth frame of the instant first, as a driver sends it
            client.publish("rgb8", colour, stamp, frame_id="color_optical")

        deadline = time.monotonic() + 60
        while not clouds and time.monotonic() < deadline:
            info_pub.publish(info)
            send()
            client.spin_until(lambda: bool(clouds), 1.0)
        assert clouds, log.read_text()
        expected = SegmentationEngine(weights, device="cpu", model_size=(64, 32)).infer(colour).labels
        check_plane_cloud(clouds[-1], expected, 7)
        assert client.spin_until(lambda: diagnostics.counter(client.latest_status(), diagnostics.CLOUDS) >= 1, 10), (
            client.latest_status()
        )
        # The other arrival order (a fast GPU): the segmentation is done before its depth frame comes, which
        # then wakes the inference thread to pair and publish.
        later = Image(height=60, width=80, encoding="16UC1", step=160, data=millimetres.tobytes())
        later.header.stamp.sec, later.header.frame_id = 8, "depth_optical"
        deadline = time.monotonic() + 60
        while not any(c.header.stamp.sec == 8 for c in clouds) and time.monotonic() < deadline:
            client.publish("rgb8", colour, 8_000_000_000, frame_id="color_optical")
            client.spin_until(lambda: False, 0.5)
            depth_pub.publish(later)
            client.spin_until(lambda: any(c.header.stamp.sec == 8 for c in clouds), 1.0)
        assert any(c.header.stamp.sec == 8 for c in clouds), (client.latest_status(), log.read_text())
        check_plane_cloud(next(c for c in clouds if c.header.stamp.sec == 8), expected, 8)
    finally:
        node.destroy_node()
        code = stop_node(process)
        rclpy.try_shutdown()
    output = log.read_text()
    assert code == 0 and "Traceback" not in output, output
    # Without vision_msgs (the .venv alone) the node says so once and publishes the rest: the cloud came.
    assert importlib.util.find_spec("vision_msgs") or output.count("vision_msgs is not importable") == 1, output
