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

__all__ = ["cloud_message", "image_message", "output_camera_info", "scaled_camera_info"]


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
    out.roi.x_offset, out.roi.width = round(info.roi.x_offset * sx), round(info.roi.width * sx)
    out.roi.y_offset, out.roi.height = round(info.roi.y_offset * sy), round(info.roi.height * sy)
    return out


def output_camera_info(info: CameraInfo, header: Any, width: int, height: int) -> CameraInfo:
    """``info`` for outputs of ``width`` x ``height``, stamped with ``header``.

    Always a copy: the received message stays as it came, since the executor
    thread may hand it to the next frame while this one is published.
    """
    out = scaled_camera_info(info, width, height) if (info.width, info.height) != (width, height) else copy.copy(info)
    out.header = header
    return out
