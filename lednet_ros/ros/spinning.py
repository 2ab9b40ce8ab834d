"""Spinning a node until SIGINT or SIGTERM, without the shutdown race's traceback.

rclpy's own signal handler shuts the context down from a signal, at any point
of the executor's loop. When that lands between two waits, the executor's
next ``WaitSet`` is built on a context that is already invalid and
``rclpy.spin`` raises ``RCLError: failed to initialize wait set: the given
context is not valid`` instead of ``ExternalShutdownException`` (a known race:
ros2/rclpy#398, ros2/ros2cli#854; present in Humble to Kilted). A node stopped
by ``ros2 launch`` or a test's SIGTERM must still exit 0 and quietly, so this
helper treats a ``RuntimeError`` (``RCLError`` is one) that comes out of the
executor once the context is shut down as that shutdown. While the context is
still valid, every error propagates as before.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

__all__ = ["spin_until_shutdown"]


def spin_until_shutdown(node: Node) -> None:
    """Spin ``node`` until its context is shut down (Ctrl-C, SIGTERM, ``rclpy.shutdown``).

    Raises:
        RuntimeError: an executor error while the context is still valid (a real fault).
    """
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        return
    except RuntimeError:  # rclpy's RCLError derives from RuntimeError
        if node.context.ok():
            raise
