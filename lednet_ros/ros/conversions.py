"""Messages the node publishes, built from arrays and from the messages it received.

The pixel and point layouts come from :mod:`lednet_ros.msgs` (rclpy-free);
this module only puts them into ``sensor_msgs`` messages.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from lednet_ros.msgs.cloud import POINT_FIELDS, cloud_fields
from lednet_ros.msgs.image import encode_image

__all__ = ["camera_info_problem", "cloud_message", "image_message", "output_camera_info", "scaled_camera_info"]


def image_message(header: Any, pixels: np.ndarray, encoding: str) -> Image:
    """An ``Image`` of ``pixels`` (mono8 or rgb8) with ``header``."""
    message = Image()
    message.header = header
    message.height, message.width, message.step, message.data = encode_image(pixels, encoding)
    message.encoding = encoding
    message.is_bigendian = 0
    return message


def cloud_message(header: Any, points: np.ndarray) -> PointCloud2:
    """A ``PointCloud2`` of :data:`~lednet_ros.msgs.cloud.POINT_DTYPE` ``points`` with ``header``."""
    cloud = PointCloud2(**cloud_fields(points))
    cloud.header = header
    cloud.fields = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in POINT_FIELDS]
    return cloud


def scaled_camera_info(info: CameraInfo, width: int, height: int) -> CameraInfo:
    """A copy of ``info`` for the same camera at another resolution (K, P and the ROI scaled)."""
    out = copy.deepcopy(info)
    sx = width / info.width if info.width else 1.0
    sy = height / info.height if info.height else 1.0
    k = list(info.k)
    k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
    p = list(info.p)
    p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
    out.k, out.p = k, p
    out.width, out.height = width, height
    # Clamped into the new image: a ROI the node passed on must never wrap around in its uint32 fields.
    out.roi.x_offset = _clamp(info.roi.x_offset * sx, width)
    out.roi.width = _clamp(info.roi.width * sx, width - out.roi.x_offset)
    out.roi.y_offset = _clamp(info.roi.y_offset * sy, height)
    out.roi.height = _clamp(info.roi.height * sy, height - out.roi.y_offset)
    return out


def _clamp(value: float, limit: int) -> int:
    return min(max(0, round(value)), max(0, limit))


def camera_info_problem(info: CameraInfo) -> str | None:
    """What makes ``info`` unusable, or None: the node keeps its last good camera_info instead.

    A camera_info is refused when its image size is zero, any of D, K, R, P
    is NaN or infinite, K's focal lengths are not positive, or its ROI
    reaches outside the image: scaled, such values would go out as nonsense
    or wrap around. An all-zero K is what sensor_msgs prescribes for an
    uncalibrated camera; it is kept (and stays zero when scaled), so rviz2
    still gets the outputs' size.
    """
    if not info.width or not info.height:
        return f"image size {info.width}x{info.height} is empty"
    for name in ("d", "k", "r", "p"):
        values = np.asarray(getattr(info, name), dtype=np.float64)
        if not np.isfinite(values).all():
            return f"{name.upper()} holds NaN or infinite values"
    k = info.k
    uncalibrated = not np.any(np.asarray(k, dtype=np.float64))
    if not uncalibrated and not (k[0] > 0 and k[4] > 0):
        return f"K's focal lengths fx={k[0]}, fy={k[4]} are not positive"
    roi = info.roi
    if roi.x_offset + roi.width > info.width or roi.y_offset + roi.height > info.height:
        return (
            f"ROI {roi.width}x{roi.height} at ({roi.x_offset}, {roi.y_offset}) reaches outside the "
            f"{info.width}x{info.height} image"
        )
    return None


def output_camera_info(info: CameraInfo, header: Any, width: int, height: int) -> CameraInfo:
    """``info`` for outputs of ``width`` x ``height``, stamped with ``header``.

    Always a copy: the received message stays as it came, since the executor
    thread may hand it to the next frame while this one is published.
    """
    out = scaled_camera_info(info, width, height) if (info.width, info.height) != (width, height) else copy.copy(info)
    out.header = header
    return out
