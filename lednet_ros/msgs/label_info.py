"""``vision_msgs/LabelInfo``: the class-id-to-name map that costmap layers and other consumers read.

Nav2's semantic segmentation layer matches ``class_map[].class_name``
against the class names of its YAML, and takes ``class_id`` for the mask
value. What goes in:

- one ``VisionClass`` per published class (:class:`~lednet_ros.msgs.class_filter.ClassFilter`),
  train id and name, in train-id order;
- never the ignore id (255): vision_msgs reserves a type's maximum for
  "unlabelled", and the layer logs a "CRITICAL ERROR" for every LabelInfo
  class its YAML does not define;
- ``threshold``: ``min_confidence`` (0 when off).

``vision_msgs`` is not a wheel on PyPI, so it is imported only when a
message is built; :func:`vision_msgs_problem` says why it cannot be, and
the node then publishes everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lednet_ros.msgs.class_filter import ClassFilter

__all__ = ["LabelInfoContent", "label_info_content", "label_info_message", "vision_msgs_problem"]


@dataclass(frozen=True)
class LabelInfoContent:
    """What a LabelInfo says, without the message type: ``(class_id, class_name)`` pairs and the threshold."""

    class_map: tuple[tuple[int, str], ...]
    threshold: float

    def names(self) -> list[str]:
        """The class names, in class-id order."""
        return [name for _, name in self.class_map]


def label_info_content(class_filter: ClassFilter) -> LabelInfoContent:
    """The LabelInfo of a class set as ``class_filter`` publishes it (the ignore id never listed)."""
    names = class_filter.classes.names
    pairs = tuple((i, names[i]) for i in class_filter.published if i != class_filter.classes.ignore_id)
    return LabelInfoContent(pairs, float(class_filter.min_confidence))


def vision_msgs_problem() -> str | None:
    """Why ``vision_msgs`` cannot be imported here (None: it can)."""
    try:
        from vision_msgs.msg import LabelInfo, VisionClass  # noqa: F401, PLC0415 (not on PyPI: optional)
    except ImportError as exc:
        return f"vision_msgs is not importable ({exc}); install ros-$ROS_DISTRO-vision-msgs"
    return None


def label_info_message(header: Any, content: LabelInfoContent) -> Any:
    """A ``vision_msgs/LabelInfo`` of ``content`` with ``header``.

    Raises:
        ImportError: ``vision_msgs`` is not installed (see :func:`vision_msgs_problem`).
    """
    from vision_msgs.msg import LabelInfo, VisionClass  # noqa: PLC0415 (optional, see vision_msgs_problem)

    message = LabelInfo()
    message.header = header
    message.class_map = [VisionClass(class_id=class_id, class_name=name) for class_id, name in content.class_map]
    message.threshold = content.threshold
    return message
