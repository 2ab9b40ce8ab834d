"""The transport floor's stand-in for the segmentation node: the same topics and QoS, no work.

``python -m lednet_ros.ros.echo PREFIX ...``: per camera prefix it subscribes
``PREFIX/image`` as the node does and answers each frame with a ``mono8``
image of its size, carrying the frame's header, on
``PREFIX/segmentation/labels``. Measured like the node
(:mod:`lednet_ros.ros.node_bench`), it gives the latency that rclpy and the
DDS transport alone put under any Python node.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Sequence

import rclpy
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from lednet_ros.ros.spinning import spin_until_shutdown
from lednet_ros.ros.topics import IMAGE, output_topic

__all__ = ["main"]


def main(prefixes: Sequence[str]) -> None:
    """Echo on every camera prefix until SIGINT or SIGTERM."""
    rclpy.init()
    node = rclpy.create_node("lednet_transport_echo")
    replies: dict[tuple[int, int], Image] = {}  # one zeroed reply per size, reused

    def answer(message: Image, publisher: Publisher) -> None:
        reply = replies.get((message.width, message.height))
        if reply is None:
            reply = Image(height=message.height, width=message.width, encoding="mono8", step=message.width)
            reply.data = array.array("B", bytes(message.width * message.height))
            replies[(message.width, message.height)] = reply
        reply.header = message.header
        publisher.publish(reply)

    for prefix in prefixes:
        publisher = node.create_publisher(Image, f"{prefix}/{output_topic('labels')}",
                                          QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
        node.create_subscription(Image, f"{prefix}/{IMAGE}", lambda m, p=publisher: answer(m, p),
                                 QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))  # fmt: skip
    try:
        spin_until_shutdown(node)
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
