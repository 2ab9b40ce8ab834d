"""Start segmentation.launch.py for real with launch_testing (needs a ROS 2 install).

``launch``, ``launch_ros`` and ``launch_testing`` are not on PyPI, so this is
skipped in the repository's .venv and in CI; on a robot run
``colcon test --packages-select lednet_ros`` or ``python3 -m pytest test/``
after sourcing the workspace.
"""

from __future__ import annotations

import importlib.util
import time

import pytest

if any(importlib.util.find_spec(name) is None for name in ("launch", "launch_ros", "launch_testing")):
    pytest.skip("launch/launch_ros/launch_testing are not installable from PyPI; runs on a ROS 2 install",
                allow_module_level=True)  # fmt: skip

import launch
import launch_testing.actions
import rclpy
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.substitutions import FindPackageShare
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


@pytest.mark.launch_test
def generate_test_description() -> tuple[launch.LaunchDescription, dict]:
    launch_file = launch.substitutions.PathJoinSubstitution(
        [FindPackageShare("lednet_ros"), "launch", "segmentation.launch.py"]
    )
    included = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file),
        launch_arguments={
            "image_topic": "/lt/image",
            "camera_info_topic": "/lt/camera_info",
            "device": "cpu",
            "model_width": "64",
            "model_height": "32",
        }.items(),
    )
    return launch.LaunchDescription([included, launch_testing.actions.ReadyToTest()]), {}


def test_the_launched_node_segments_a_frame() -> None:
    rclpy.init()
    node = rclpy.create_node("launch_test_client")
    try:
        received: list[Image] = []
        node.create_subscription(
            Image, "/segmentation/labels", received.append, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        )
        publisher = node.create_publisher(
            Image, "/lt/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        )
        frame = Image(height=32, width=64, encoding="rgb8", step=192, data=bytes(64 * 32 * 3))
        deadline = time.monotonic() + 120
        while not received and time.monotonic() < deadline:
            frame.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(frame)
            rclpy.spin_once(node, timeout_sec=0.5)
        assert received and (received[-1].width, received[-1].height) == (64, 32)
    finally:
        node.destroy_node()
        rclpy.shutdown()
