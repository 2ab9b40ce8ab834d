"""The node executables' entry points, which handle Ctrl-C from their first line.

``segmentation_node`` and ``segmentation_lifecycle_node`` install
:class:`~lednet_ros.ros.interrupts.StartupInterrupts` before importing the
node (rclpy, torch, OpenCV: about two seconds on a small CPU). Otherwise a
terminal's Ctrl-C in those seconds under ``ros2 launch`` met Python's
default handler in the middle of an import and printed a
``KeyboardInterrupt`` traceback with exit code -2. Now it exits 0.
"""

from __future__ import annotations

import importlib
import sys

from lednet_ros.ros.interrupts import StartupInterrupts

__all__ = ["segmentation_lifecycle_node", "segmentation_node"]


def _run(node_module: str, node_class: str, args: list[str] | None) -> int:
    """Install the handler, then import ``node_module`` and run its ``node_class``."""
    interrupts = StartupInterrupts()
    try:
        factory = getattr(importlib.import_module(node_module), node_class)
        from lednet_ros.ros.spinning import run_node  # noqa: PLC0415 (after the handler: see above)
        from lednet_ros.ros.topics import NODE_NAME  # noqa: PLC0415
    except KeyboardInterrupt:  # Ctrl-C while importing
        interrupts.ignore()
        return 0
    return run_node(factory, NODE_NAME, args, interrupts)


def segmentation_node(args: list[str] | None = None) -> int:
    """``ros2 run lednet_ros segmentation_node``: the node (:class:`~lednet_ros.ros.node.SegmentationNode`)."""
    return _run("lednet_ros.ros.node", "SegmentationNode", args)


def segmentation_lifecycle_node(args: list[str] | None = None) -> int:
    """``ros2 run lednet_ros segmentation_lifecycle_node``: the managed node."""
    return _run("lednet_ros.ros.lifecycle_node", "SegmentationLifecycleNode", args)


if __name__ == "__main__":
    sys.exit(segmentation_node())
