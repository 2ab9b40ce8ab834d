"""What the node publishes of its classes: the pixel filter and ``segmentation/label_info``.

:class:`PublishedClasses` holds the node's
:class:`~lednet_ros.msgs.class_filter.ClassFilter` (``min_confidence``,
``publish_classes``), applies it to each segmentation before anything is
published from it, and publishes the class map as ``vision_msgs/LabelInfo``
on every camera's ``segmentation/label_info``: reliable and transient local
with depth 1, so a subscriber that comes later (Nav2's semantic
segmentation layer subscribes with reliable, transient local, depth 5)
still gets the current map. It is published when the node activates and
again whenever it changes (the class set at configure, ``min_confidence``
or ``publish_classes`` at run time).

``vision_msgs`` is not a dependency of the ``.venv`` (no wheel on PyPI):
without it the node says so once at start-up and publishes everything else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from lednet_ros.errors import LednetError
from lednet_ros.model.classes import ClassConfig
from lednet_ros.msgs.class_filter import ClassFilter
from lednet_ros.msgs.label_info import LabelInfoContent, label_info_content, label_info_message, vision_msgs_problem

__all__ = ["FILTER_PARAMETERS", "LABEL_INFO_QOS", "PublishedClasses"]

LABEL_INFO_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""Latched: the newest map reaches every subscriber, also one that joins later."""

FILTER_PARAMETERS = ("publish_classes", "min_confidence")
"""The node parameters :class:`PublishedClasses` applies (both changeable at run time)."""


class PublishedClasses:
    """The node's class filter and its LabelInfo publishers (none where vision_msgs is missing)."""

    def __init__(
        self,
        node: Node,
        classes: ClassConfig,
        topics: list[str],
        *,
        publish_classes: Sequence[str],
        min_confidence: float,
    ) -> None:
        """Check the filter and create a LabelInfo publisher on each of ``topics``, or say once why there are none.

        Raises:
            LednetError: a ``publish_classes`` name that is not a class, or a threshold outside 0-1.
        """
        self.filter = ClassFilter.from_parameters(classes, publish_classes, min_confidence)
        self._palette = classes.palette()
        self._node = node
        self._publishers: list[Any] = []
        self._sent: LabelInfoContent | None = None
        problem = vision_msgs_problem()
        if problem is not None:
            node.get_logger().warning(f"{problem}: no {', '.join(topics)}; every other output is published")
            return
        from vision_msgs.msg import LabelInfo  # noqa: PLC0415 (importable: checked just above)

        self._publishers = [node.create_publisher(LabelInfo, topic, LABEL_INFO_QOS) for topic in topics]

    def on_set(self, parameters: list[Parameter]) -> str | None:
        """Apply run-time changes of :data:`FILTER_PARAMETERS` and publish the new map; the reason if refused."""
        changed = {p.name: p.value for p in parameters if p.name in FILTER_PARAMETERS}
        if not changed:
            return None
        publish = changed.get("publish_classes", [self.filter.classes.names[i] for i in self.filter.published])
        try:
            self.filter = ClassFilter.from_parameters(self.filter.classes, list(publish),
                                                      float(changed.get("min_confidence", self.filter.min_confidence)))  # fmt: skip
        except LednetError as exc:
            return str(exc)
        self.publish_label_info()
        return None

    def needs_confidence(self) -> bool:
        """Whether the filter reads the confidence image (the engine must make it then)."""
        return self.filter.needs_confidence

    def apply(self, result: Any) -> Any:
        """A segmentation result with the filter applied to its labels (and colours); itself when the filter is off."""
        labels = self.filter.apply(result.labels, result.confidence)
        if labels is result.labels:
            return result
        color = None if result.color is None else self._palette[labels]
        return dataclasses.replace(result, labels=labels, color=color)

    def publish_label_info(self, *, force: bool = False) -> None:
        """Publish the current map, unless it is the one already sent (``force``: send anyway, e.g. on activate)."""
        content = label_info_content(self.filter)
        if not self._publishers or (content == self._sent and not force):
            return
        header = Header(stamp=self._node.get_clock().now().to_msg())
        for publisher in self._publishers:
            publisher.publish(label_info_message(header, content))
        self._sent = content
