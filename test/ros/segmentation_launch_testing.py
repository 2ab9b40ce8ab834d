"""A launch_testing description: segmentation.launch.py, and a check that the launched node segments a frame.

Run by ``test_launch_testing.py`` with the real ``launch_test`` command (not
collected by pytest itself: launch_testing runs it, as ``colcon test`` would
on a ROS 2 install).
"""

from __future__ import annotations

import os
import time
import unittest

import launch
import launch_testing.actions
import rclpy
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.substitutions import FindPackageShare
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def generate_test_description() -> tuple[launch.LaunchDescription, dict]:
    """The package's launch file with a small network on the CPU, then the tests."""
    launch_file = launch.substitutions.PathJoinSubstitution(
        [FindPackageShare("lednet_ros"), "launch", "segmentation.launch.py"]
    )
    included = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file),
        launch_arguments={
            "namespace": os.environ.get("LAUNCH_TEST_NAMESPACE", "lt"),
            "image_topic": "/lt/image",
            "camera_info_topic": "/lt/camera_info",
            "device": "cpu",
            "model_width": "64",
            "model_height": "32",
        }.items(),
    )
    return launch.LaunchDescription([included, launch_testing.actions.ReadyToTest()]), {}


class TestTheLaunchedNode(unittest.TestCase):
    """While the launch runs."""

    def test_it_segments_a_frame(self) -> None:
        """A frame on the remapped image topic comes back as labels of its size."""
        rclpy.init()
        node = rclpy.create_node("launch_test_client")
        try:
            received: list[Image] = []
            reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
            node.create_subscription(Image, "/lt/segmentation/labels", received.append, reliable)
            publisher = node.create_publisher(
                Image, "/lt/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
            )
            frame = Image(height=32, width=64, encoding="rgb8", step=192, data=bytes(64 * 32 * 3))
            deadline = time.monotonic() + 120
            while not received and time.monotonic() < deadline:
                frame.header.stamp = node.get_clock().now().to_msg()
                publisher.publish(frame)
                rclpy.spin_once(node, timeout_sec=0.5)
            self.assertTrue(received, "no labels within 120 s")
            self.assertEqual((received[-1].width, received[-1].height), (64, 32))
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestAfterShutdown(unittest.TestCase):
    """Once launch has stopped everything."""

    def test_every_process_exited_cleanly(self, proc_info: launch_testing.ProcInfoHandler) -> None:
        """Exit code 0 (or SIGINT's, which launch_testing's shutdown sends) for the node."""
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
