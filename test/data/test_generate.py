from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from lednet_ros.data.generate import drive_is_current, frame_seed, generate_drive
from lednet_ros.data.generate import generate_dataset as synth
from lednet_ros.data.synthetic import street_scene


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_has_images_labels_and_camera_info_with_equal_stamps(tmp_path: Path, storage: str) -> None:
    synth(tmp_path, 3, seed=5, size=(48, 32), bag=True, storage=storage, fps=20.0, progress=False)
    with AnyReader([tmp_path / "bag"]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {"/camera/image_raw": "sensor_msgs/msg/Image", "/camera/labels": "sensor_msgs/msg/Image",
                          "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
                          "/camera/depth/image": "sensor_msgs/msg/Image",
                          "/camera/depth/camera_info": "sensor_msgs/msg/CameraInfo"}  # fmt: skip
        stamps: dict[str, list[int]] = {t: [] for t in topics}
        for connection, timestamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            stamp = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
            assert stamp == timestamp
            stamps[connection.topic].append(stamp)
            assert message.header.frame_id == "camera_optical_frame"
            index = len(stamps[connection.topic]) - 1
            frame = street_scene(48, 32, seed=frame_seed(5, index))
            if connection.topic == "/camera/image_raw":
                assert message.encoding == "bgr8" and message.step == 48 * 3
                assert np.array_equal(message.data.reshape(32, 48, 3)[..., ::-1], frame.image)
            elif connection.topic == "/camera/labels":
                assert message.encoding == "mono8"
                assert np.array_equal(message.data.reshape(32, 48), frame.labels)
            elif connection.topic == "/camera/depth/image":
                assert message.encoding == "16UC1" and message.step == 48 * 2
                millimetres = message.data.view(np.uint16).reshape(32, 48)
                sky = ~np.isfinite(frame.depth)
                assert sky.any() and np.all(millimetres[sky] == 0)
                near = np.isfinite(frame.depth) & (frame.depth < 65.0)
                assert np.abs(millimetres[near] / 1000.0 - frame.depth[near]).max() <= 0.0005
            else:
                assert message.k[0] == pytest.approx(frame.camera.fx) and message.k[2] == pytest.approx(24.0)
    assert all(values == stamps["/camera/image_raw"] for values in stamps.values())
    assert np.diff(stamps["/camera/image_raw"]).tolist() == [50_000_000, 50_000_000]


def test_cityscapes_files_hold_the_generated_frames(tmp_path: Path) -> None:
    summary = synth(tmp_path, 2, seed=3, size=(40, 24), split="val", city="town", progress=False)
    labels = cv2.imread(
        str(tmp_path / "gtFine/val/town/town_000003_000001_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED
    )
    image = cv2.imread(str(tmp_path / "leftImg8bit/val/town/town_000003_000001_leftImg8bit.png"))[..., ::-1]
    frame = street_scene(40, 24, seed=frame_seed(3, 1))
    assert np.array_equal(labels, frame.labels) and np.array_equal(image, frame.image)
    assert summary["classes_never_drawn"] == [] and summary["scene_version"] == 2
    assert (tmp_path / "synth.json").is_file()
    old = synth(tmp_path / "v1", 1, seed=3, size=(40, 24), version=1, progress=False)
    assert old["classes_never_drawn"] == ["train"] and old["scene_version"] == 1


def test_frame_seeds_do_not_depend_on_the_set_size_and_differ_between_sets() -> None:
    assert [frame_seed(0, i) for i in range(3)] == [frame_seed(0, i) for i in range(5)][:3]
    assert len({frame_seed(s, i) for s in range(3) for i in range(50)}) == 150


def test_a_drive_is_reused_only_while_it_matches_what_is_asked(tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    assert not drive_is_current(drive, 2, seed=0, size=(32, 16))
    bag = generate_drive(drive, 2, seed=0, size=(32, 16))
    assert bag == drive / "bag" and (bag / "metadata.yaml").is_file()
    assert drive_is_current(drive, 2, seed=0, size=(32, 16))
    assert not drive_is_current(drive, 3, seed=0, size=(32, 16))
    assert not drive_is_current(drive, 2, seed=1, size=(32, 16))
    assert not drive_is_current(drive, 2, seed=0, size=(48, 16))
    generate_drive(drive, 3, seed=0, size=(32, 16))  # replaces the old one (a bag folder is never overwritten)
    assert drive_is_current(drive, 3, seed=0, size=(32, 16))
