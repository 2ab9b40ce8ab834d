"""rosbag2 reading and writing without a ROS install, through the ``rosbags`` library.

Reading: :func:`open_bag` opens a bag folder or its storage file (sqlite3 or
MCAP), :func:`require_topic` turns a missing or mistyped topic into one error
that lists what the bag has, and :func:`decode_message` gives the pixels of an
image message, whether rosbags or rclpy deserialised it.

Writing: :class:`BagWriter` builds messages with rosbags' typestore for ROS 2
Jazzy (whose ``sensor_msgs``/``std_msgs`` definitions are the same in Humble
and Kilted) and serialises them to CDR, so ``ros2 bag play`` replays them on
any of those.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from lednet_ros.errors import LednetError
from lednet_ros.msgs.image import DecodedImage, decode_compressed, decode_image
from lednet_ros.user_files import check_yaml_text, read_user_file

if TYPE_CHECKING:
    from rosbags.interfaces import Connection

    from lednet_ros.data.synthetic import CameraModel

__all__ = [
    "CAMERA_INFO_TYPE",
    "DEFAULT_CAMERA_INFO_TOPIC",
    "DEFAULT_DEPTH_INFO_TOPIC",
    "DEFAULT_DEPTH_TOPIC",
    "DEFAULT_IMAGE_TOPIC",
    "DEFAULT_LABEL_TOPIC",
    "IMAGE_TYPE",
    "IMAGE_TYPES",
    "MAX_METADATA_BYTES",
    "STORAGE_PLUGINS",
    "BagWriter",
    "decode_message",
    "open_bag",
    "require_topic",
]

STORAGE_PLUGINS = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE_TYPE, "sensor_msgs/msg/CompressedImage")
DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
"""Where a camera driver publishes, ``lednet-ros synth --bag`` writes and the tools read frames."""
DEFAULT_LABEL_TOPIC = "/camera/labels"
"""Ground truth (mono8 train ids or rgb8 colours) with the frames' header stamps."""
DEFAULT_CAMERA_INFO_TOPIC = "/camera/camera_info"
DEFAULT_DEPTH_TOPIC = "/camera/depth/image"
"""Depth registered to the colour camera (16UC1 millimetres), as ``synth --bag`` writes it."""
DEFAULT_DEPTH_INFO_TOPIC = "/camera/depth/camera_info"
_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
MAX_METADATA_BYTES = 16 << 20
"""A bag's ``metadata.yaml`` is a few KB per storage file; 16 MiB leaves room for thousands of them."""


def open_bag(bag: Path) -> Any:
    """An opened ``rosbags`` AnyReader of a bag folder or its storage file.

    Raises:
        LednetError: the bag does not exist or cannot be read, or its
            ``metadata.yaml`` is not a regular file, is over
            :data:`MAX_METADATA_BYTES`, or uses YAML aliases.
    """
    from rosbags.highlevel import AnyReader  # noqa: PLC0415

    if not bag.exists():
        msg = f"{bag}: no such bag"
        raise LednetError(msg)
    path = bag.parent if bag.is_file() and (bag.parent / "metadata.yaml").is_file() else bag
    metadata = path / "metadata.yaml"
    if path.is_dir() and metadata.exists():  # rosbags parses it without limits: bounded and alias-free first
        text = read_user_file(metadata, "bag metadata", MAX_METADATA_BYTES).decode("utf-8", errors="replace")
        check_yaml_text(text, str(metadata))
    try:
        reader = AnyReader([path])
        reader.open()
    except Exception as exc:
        msg = f"{bag}: cannot read as a rosbag2 ({type(exc).__name__}: {exc})"
        raise LednetError(msg) from None
    return reader


def require_topic(bag: Path, topics: dict[str, str], topic: str, allowed: tuple[str, ...], described: str) -> None:
    """Check that the bag has ``topic`` with one of the ``allowed`` message types.

    Raises:
        LednetError: the topic is absent (the message lists the bag's topics
            and types) or holds another type (``described`` says what it should be).
    """
    if topic not in topics:
        listing = ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "none"
        msg = f"{bag}: no topic {topic!r}; the bag has: {listing}"
        raise LednetError(msg)
    if topics[topic] not in allowed:
        msg = f"{bag}: topic {topic!r} holds {topics[topic]}, not {described}"
        raise LednetError(msg)


def decode_message(message: Any, msgtype: str = IMAGE_TYPE, *, max_pixels: int | None = None) -> DecodedImage:
    """Pixels of an ``Image`` or ``CompressedImage`` message (rosbags or rclpy).

    ``max_pixels`` applies the node's frame limits (:func:`~lednet_ros.limits.check_image_size`),
    checked before decoding: a tool reading a bag meets the same bombs a node does.

    Raises:
        ImageEncodingError: the message cannot be decoded or breaks the limits.
    """
    if msgtype.endswith("CompressedImage"):
        return decode_compressed(message.format, message.data, max_pixels=max_pixels)
    return decode_image(
        message.encoding, message.height, message.width, message.step, message.is_bigendian, message.data,
        max_pixels=max_pixels,
    )  # fmt: skip


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
        message = _TYPESTORE.types[IMAGE_TYPE](
            header=_header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
            is_bigendian=0, step=step, data=pixels.view(np.uint8).reshape(-1),
        )  # fmt: skip
        self._write(topic, message, stamp_ns)

    def write_camera_info(self, topic: str, camera: CameraModel, stamp_ns: int, frame_id: str) -> None:
        """Write a distortion-free ``sensor_msgs/CameraInfo`` for ``camera``."""
        types = _TYPESTORE.types
        k = camera.intrinsics()
        projection = np.hstack([k, np.zeros((3, 1))])
        message = types[CAMERA_INFO_TYPE](
            header=_header(stamp_ns, frame_id), height=camera.height, width=camera.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1),
            p=projection.reshape(-1), binning_x=0, binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )  # fmt: skip
        self._write(topic, message, stamp_ns)
