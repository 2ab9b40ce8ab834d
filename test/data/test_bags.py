"""Bag reading and writing through rosbags: the helpers every bag tool shares."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lednet_ros.data.bags import (
    IMAGE_TYPE,
    IMAGE_TYPES,
    BagWriter,
    decode_message,
    open_bag,
    require_topic,
)
from lednet_ros.errors import LednetError

STAMP = 1_700_000_000_123_456_789


def write_bag(path: Path, storage: str = "sqlite3") -> np.ndarray:
    pixels = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    with BagWriter(path, storage) as bag:
        bag.write_image("/cam/image", pixels, "rgb8", STAMP, "cam")
    return pixels


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_written_image_reads_back_with_its_pixels_and_stamp(tmp_path: Path, storage: str) -> None:
    pixels = write_bag(tmp_path / "bag", storage)
    reader = open_bag(tmp_path / "bag")
    try:
        ((connection, timestamp, raw),) = list(reader.messages())
        message = reader.deserialize(raw, connection.msgtype)
    finally:
        reader.close()
    assert connection.msgtype == IMAGE_TYPE and timestamp == STAMP
    assert message.header.stamp.sec * 10**9 + message.header.stamp.nanosec == STAMP
    decoded = decode_message(message, connection.msgtype)
    assert decoded.order == "rgb" and np.array_equal(decoded.rgb(), pixels)


def test_the_storage_file_opens_like_its_folder(tmp_path: Path) -> None:
    write_bag(tmp_path / "bag")
    (storage_file,) = (tmp_path / "bag").glob("*.db3")
    reader = open_bag(storage_file)
    try:
        assert [c.topic for c in reader.connections] == ["/cam/image"]
    finally:
        reader.close()


def test_compressed_images_decode_too() -> None:
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, :3] = (0, 0, 255)  # BGR red on the left
    ok, png = cv2.imencode(".png", pixels)
    assert ok

    class Compressed:
        format = "png"
        data = png.tobytes()

    decoded = decode_message(Compressed(), "sensor_msgs/msg/CompressedImage")
    assert decoded.rgb()[0, 0].tolist() == [255, 0, 0] and decoded.rgb()[0, 5].tolist() == [0, 0, 0]


def test_missing_bags_and_topics_are_errors_that_say_what_there_is(tmp_path: Path) -> None:
    with pytest.raises(LednetError, match="no such bag"):
        open_bag(tmp_path / "nope")
    (tmp_path / "junk").mkdir()
    with pytest.raises(LednetError, match="cannot read as a rosbag2"):
        open_bag(tmp_path / "junk")
    topics = {"/cam/image": IMAGE_TYPE, "/cam/info": "sensor_msgs/msg/CameraInfo"}
    require_topic(tmp_path, topics, "/cam/image", IMAGE_TYPES, "an image")
    with pytest.raises(
        LednetError, match=r"no topic '/x'; the bag has: /cam/image \(sensor_msgs/msg/Image\), /cam/info"
    ):
        require_topic(tmp_path, topics, "/x", IMAGE_TYPES, "an image")
    with pytest.raises(LednetError, match="holds sensor_msgs/msg/CameraInfo, not an image"):
        require_topic(tmp_path, topics, "/cam/info", IMAGE_TYPES, "an image")


def test_the_writer_refuses_an_existing_bag_and_an_unknown_storage(tmp_path: Path) -> None:
    write_bag(tmp_path / "bag")
    with pytest.raises(LednetError, match="exists already"):
        BagWriter(tmp_path / "bag")
    with pytest.raises(LednetError, match="unknown bag storage 'zip'"):
        BagWriter(tmp_path / "other", "zip")
