"""``segmentation_lifecycle_node``: the segmentation node as a managed (lifecycle) node.

For stacks that bring their nodes up with a lifecycle manager (Nav2's
``lifecycle_manager``, Autoware-style bring-up), the same work as
``segmentation_node`` (:class:`~lednet_ros.ros.node.SegmentationCore`: the
same parameters, topics and ``/diagnostics``) split over the transitions of
`ROS 2 managed nodes <https://design.ros2.org/articles/node_lifecycle.html>`_:

- unconfigured: parameters declared (``ros2 param get`` works), nothing loaded;
- ``configure``: loads the weights and warms up, creates the publishers; a
  bad weights file or device fails the transition, with the reason in the
  log, and the node stays unconfigured;
- ``activate``: subscribes the cameras, starts inference and diagnostics;
- ``deactivate``: stops inference and publishing, keeps the engine (a later
  ``activate`` is immediate);
- ``cleanup``: frees the engine and the publishers;
- ``shutdown`` from any state: whatever is up is taken down in that order.
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from lednet_ros.ros.node import SegmentationCore
from lednet_ros.ros.spinning import run_node
from lednet_ros.ros.topics import NODE_NAME

__all__ = ["SegmentationLifecycleNode", "main"]


class SegmentationLifecycleNode(SegmentationCore, LifecycleNode):
    """LEDNet semantic segmentation as a managed node (same name, parameters and topics as the plain one).

    Raises:
        LednetError: a parameter value is invalid (the node is not created).
    """

    def __init__(self, **kwargs: Any) -> None:
        LifecycleNode.__init__(self, NODE_NAME, **kwargs)
        self._declare()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the weights, warm up, create the publishers; FAILURE (and back to unconfigured) with the reason."""
        try:
            self._configure()
        except Exception as exc:  # whatever loading raised fails the transition, with the reason
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe the cameras; inference and diagnostics start. FAILURE (and still inactive) with the reason."""
        try:
            self._activate()
        except Exception as exc:  # _activate destroyed what it created: the node is inactive, as before
            self.get_logger().error(f"activate failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop inference, publishing and diagnostics; the engine stays loaded."""
        self._deactivate()
        self.get_logger().info("inactive: not subscribed, not publishing; the engine stays loaded")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the engine and the publishers."""
        self._cleanup()
        self.get_logger().info("unconfigured: engine freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Take down whatever is up, from any state."""
        self.stop()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: take everything down and go back to unconfigured."""
        self.stop()
        return TransitionCallbackReturn.SUCCESS

    def stop(self) -> None:
        """Deactivate and clean up, as far as the node got (process exit, shutdown, error)."""
        self._deactivate()
        self._cleanup()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``segmentation_lifecycle_node`` (``ros2 run lednet_ros segmentation_lifecycle_node``)."""
    return run_node(SegmentationLifecycleNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
