"""rosbag2 writing without a ROS install, through the ``rosbags`` library.

Messages are built with rosbags' typestore for ROS 2 Jazzy (whose
``sensor_msgs``/``std_msgs`` definitions are the same in Humble and Kilted)
and serialised to CDR, so ``ros2 bag play`` replays them on any of those.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from lednet_ros.errors import LednetError

if TYPE_CHECKING:
    from rosbags.interfaces import Connection

    from lednet_ros.data.synthetic import CameraModel

__all__ = ["STORAGE_PLUGINS", "BagWriter"]

STORAGE_PLUGINS = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


def _header(stamp_ns: int, frame_id: str) -> Any:
    types = _TYPESTORE.types
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


class BagWriter:
    """Writes camera topics to a new rosbag2 (a context manager).

    Raises:
        LednetError: the bag already exists or the storage is unknown.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3") -> None:
        if storage not in STORAGE_PLUGINS:
            msg = f"unknown bag storage {storage!r}: use {' or '.join(STORAGE_PLUGINS)}"
            raise LednetError(msg)
        self.path = Path(path)
        if self.path.exists():
            msg = f"{self.path}: exists already; rosbag2 writes a new bag folder"
            raise LednetError(msg)
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGE_PLUGINS[storage])
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def _write(self, topic: str, message: Any, stamp_ns: int) -> None:
        self.write_serialized(
            topic, message.__msgtype__, _TYPESTORE.serialize_cdr(message, message.__msgtype__), stamp_ns
        )

    def write_serialized(self, topic: str, msgtype: str, data: bytes | memoryview, stamp_ns: int) -> None:
        """Write an already CDR-serialised message (e.g. copied from another bag) as it is."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=_TYPESTORE)
        self._writer.write(self._connections[topic], stamp_ns, data)

    def write_image(self, topic: str, pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> None:
        """Write an HxW or HxWxC uint8/uint16/float32 array as ``sensor_msgs/Image`` (little-endian, no padding)."""
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        step = pixels.strides[0]
        message = _TYPESTORE.types["sensor_msgs/msg/Image"](
            header=_header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
            is_bigendian=0, step=step, data=pixels.view(np.uint8).reshape(-1),
        )  # fmt: skip
        self._write(topic, message, stamp_ns)

    def write_camera_info(self, topic: str, camera: CameraModel, stamp_ns: int, frame_id: str) -> None:
        """Write a distortion-free ``sensor_msgs/CameraInfo`` for ``camera``."""
        types = _TYPESTORE.types
        k = camera.intrinsics()
        projection = np.hstack([k, np.zeros((3, 1))])
        message = types["sensor_msgs/msg/CameraInfo"](
            header=_header(stamp_ns, frame_id), height=camera.height, width=camera.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1),
            p=projection.reshape(-1), binning_x=0, binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )  # fmt: skip
        self._write(topic, message, stamp_ns)
