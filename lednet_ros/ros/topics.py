"""The node's name and topic names (relative to a camera's namespace): defined once for the node and its tools.

Relative names let ``__ns:=`` and remappings place them (REP-135 style
``image`` / ``camera_info`` inputs, outputs under ``segmentation/``). The
node, the replay, the node benchmark, the echo node and the tests build
their topic names from these; no rclpy import.
"""

from __future__ import annotations

__all__ = [
    "CAMERA_INFO",
    "CLOUD_CONFIDENCE",
    "CLOUD_LABELS",
    "CLOUD_OUTPUTS",
    "COMPRESSED_IMAGE",
    "IMAGE",
    "IMAGE_OUTPUTS",
    "LABEL_INFO",
    "NODE_NAME",
    "OUTPUTS",
    "POINTS",
    "SEGMENTATION",
    "in_namespace",
    "output_topic",
]

NODE_NAME = "lednet_segmentation"
"""The node's default name (the plain and the lifecycle node alike)."""

IMAGE = "image"
COMPRESSED_IMAGE = "image/compressed"
CAMERA_INFO = "camera_info"

SEGMENTATION = "segmentation"
"""The namespace of every output."""
IMAGE_OUTPUTS = ("labels", "color", "overlay", "confidence")
"""``sensor_msgs/Image`` outputs: mono8 train ids, rgb8 palette, rgb8 blend, mono8 confidence."""
OUTPUTS = (*IMAGE_OUTPUTS, CAMERA_INFO)
"""Every output of a camera (``camera_info`` is the input's, scaled to the outputs' size)."""
POINTS = "points"
"""The semantic ``PointCloud2`` of the camera that has a depth input."""
CLOUD_LABELS = "cloud_labels"
CLOUD_CONFIDENCE = "cloud_confidence"
CLOUD_OUTPUTS = (CLOUD_LABELS, CLOUD_CONFIDENCE)
"""With ``cloud_layout`` organized: mono8 labels and confidence at the cloud's grid, with its header (Nav2)."""
LABEL_INFO = "label_info"
"""``vision_msgs/LabelInfo`` of each camera: class ids and names, latched."""


def output_topic(name: str) -> str:
    """An output's topic relative to its camera's namespace, e.g. ``segmentation/labels``."""
    return f"{SEGMENTATION}/{name}"


def in_namespace(namespace: str, name: str) -> str:
    """``name`` inside a camera ``namespace``: relative unless the namespace is absolute; '' is the node's own."""
    if not namespace.strip("/"):
        return name
    return f"{namespace.rstrip('/')}/{name}"
