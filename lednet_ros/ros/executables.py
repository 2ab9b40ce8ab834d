"""The node executables' entry points, which handle Ctrl-C from their first line.

``segmentation_node`` and ``segmentation_lifecycle_node`` install
:class:`~lednet_ros.ros.interrupts.StartupInterrupts` before importing the
node (rclpy, torch, OpenCV: about two seconds on a small CPU). Otherwise a
terminal's Ctrl-C in those seconds under ``ros2 launch`` met Python's
default handler in the middle of an import and printed a
``KeyboardInterrupt`` traceback with exit code -2. Now it exits 0.
"""

from __future__ import annotations

import sys

from lednet_ros.ros.interrupts import StartupInterrupts

__all__ = ["segmentation_lifecycle_node", "segmentation_node"]


def segmentation_node(args: list[str] | None = None) -> int:
    """``ros2 run lednet_ros segmentation_node``: the node (:class:`~lednet_ros.ros.node.SegmentationNode`)."""
    interrupts = StartupInterrupts()
    try:
        from lednet_ros.ros.node import SegmentationNode  # noqa: PLC0415 (after the handler: see above)
        from lednet_ros.ros.spinning import run_node  # noqa: PLC0415
        from lednet_ros.ros.topics import NODE_NAME  # noqa: PLC0415
    except KeyboardInterrupt:  # Ctrl-C while importing
        interrupts.ignore()
        return 0
    return run_node(SegmentationNode, NODE_NAME, args, interrupts)


def segmentation_lifecycle_node(args: list[str] | None = None) -> int:
    """``ros2 run lednet_ros segmentation_lifecycle_node``: the managed node."""
    interrupts = StartupInterrupts()
    try:
        from lednet_ros.ros.lifecycle_node import SegmentationLifecycleNode  # noqa: PLC0415 (see above)
        from lednet_ros.ros.spinning import run_node  # noqa: PLC0415
        from lednet_ros.ros.topics import NODE_NAME  # noqa: PLC0415
    except KeyboardInterrupt:  # Ctrl-C while importing
        interrupts.ignore()
        return 0
    return run_node(SegmentationLifecycleNode, NODE_NAME, args, interrupts)


if __name__ == "__main__":
    sys.exit(segmentation_node())
