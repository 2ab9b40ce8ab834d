"""``lednet-ros replay``: bags through the live node in its own process, over real rclpy and Fast DDS.

The strongest check is that the node's output, replayed frame by frame
(``--lockstep``), scores exactly what ``lednet-ros evaluate`` computes offline
with the same weights: the same confusion matrix, so the same per-class IoU.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import randomized_checkpoint
from PIL import Image as PilImage
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from lednet_ros.data.bags import BagWriter
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.offline import run as evaluate
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.stamps import cdr_header_stamp_ns

REPO = Path(__file__).resolve().parents[2]
CLASSES = load_class_config()
SIZE = (96, 48)
MODEL = (64, 32)
FRAMES = 8
START = 1_700_000_000_000_000_000
TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(11)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "replay_test.pt", checkpoint.build_model(), checkpoint.meta)


def make_bag(path: Path, storage: str = "sqlite3", *, corrupt: bool = False, fps: float = 10.0) -> list[int]:
    """A drive of FRAMES synthetic frames with labels and camera_info; returns the image stamps."""
    stamps = []
    with BagWriter(path, storage) as bag:
        for i in range(FRAMES):
            frame = street_scene(*SIZE, seed=frame_seed(3, i))
            stamp = START + round(i * 1e9 / fps)
            bag.write_image("/camera/image_raw", frame.image[..., ::-1], "bgr8", stamp, "camera_optical_frame")
            bag.write_image("/camera/labels", frame.labels, "mono8", stamp, "camera_optical_frame")
            bag.write_camera_info("/camera/camera_info", frame.camera, stamp, "camera_optical_frame")
            stamps.append(stamp)
            if corrupt and i == 2:
                bag.write_serialized(
                    "/camera/image_raw", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00garbage", stamp + 1
                )
    return stamps


def replay(*args: str, domain: int, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    return subprocess.run(
        [sys.executable, "-m", "lednet_ros", "replay", *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, env=env, check=False,
    )  # fmt: skip


def new_domain() -> int:
    return random.SystemRandom().randint(101, 200)


def node_args(weights: Path) -> list[str]:
    return ["--weights", str(weights), "--model-size", f"{MODEL[0]}x{MODEL[1]}", "--device", "cpu"]


# -- pure logic ---------------------------------------------------------------


@pytest.mark.parametrize("little_endian", [True, False])
def test_header_stamp_is_read_from_cdr_bytes_in_either_byte_order(little_endian: bool) -> None:
    types = TYPESTORE.types
    stamp = types["builtin_interfaces/msg/Time"](sec=1_700_000_123, nanosec=987_654_321)
    message = types["sensor_msgs/msg/Image"](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id="cam"), height=1, width=2, encoding="mono8",
        is_bigendian=0, step=2, data=np.zeros(2, np.uint8),
    )  # fmt: skip
    data = bytes(TYPESTORE.serialize_cdr(message, "sensor_msgs/msg/Image", little_endian=little_endian))
    assert cdr_header_stamp_ns(data) == 1_700_000_123_987_654_321
    with pytest.raises(ValueError, match="cannot hold a header"):
        cdr_header_stamp_ns(data[:10])


# -- live, with the node in its own process -------------------------------------


def test_lockstep_replay_scores_exactly_what_offline_evaluation_scores(tmp_path: Path, weights: Path) -> None:
    stamps = make_bag(tmp_path / "bag")
    out, recorded = tmp_path / "out", tmp_path / "recorded"
    result = replay(str(tmp_path / "bag"), "--start-node", "--lockstep", "--gif", "--record", str(recorded),
                    "--out", str(out), *node_args(weights), domain=new_domain())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    figures = report["replay"]
    assert (figures["frames_sent"], figures["outputs_received"], figures["frames_lost"]) == (FRAMES, FRAMES, 0)
    assert figures["dropped_by_node"] == 0 and figures["unexpected_outputs"] == 0
    assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p95"] <= figures["latency_ms"]["max"]
    # the started node warmed up for the bag's image size, so its first frame is not the slow one
    assert f"warmed up for {SIZE[0]}x{SIZE[1]} in" in (out / "node.log").read_text()
    assert report["frames"] == FRAMES and report["corrupt_messages"] == 0
    assert report["node_parameters"]["device"] == "cpu" and report["node_parameters"]["cuda_graphs"] is True

    engine = SegmentationEngine(str(weights), device="cpu", model_size=MODEL)
    offline = evaluate(tmp_path / "bag", "/camera/image_raw", "/camera/labels", CLASSES, engine=engine, progress=False)
    assert report["pixels"] == offline.scores.pixels
    offline_iou = [None if np.isnan(v) else round(float(v), 6) for v in offline.scores.per_class_iou]
    assert list(report["per_class_iou"].values()) == offline_iou
    assert report["miou"] == round(float(offline.scores.miou), 6)
    # /diagnostics says what ran, read back from the backend: the same auto choice as this engine's on this CPU
    assert (report["backend"], report["precision"]) == (engine.backend, engine.running_precision)

    with AnyReader([recorded]) as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
        # The bag holds each image before its camera_info, as recorded; the node may segment the first image
        # before any camera_info has arrived, and then has none to publish with it.
        info_count = topics.pop("/segmentation/camera_info")
        assert topics == {"/segmentation/labels": FRAMES, "/segmentation/overlay": FRAMES}
        assert FRAMES - 1 <= info_count <= FRAMES
        label_stamps = [
            reader.deserialize(raw, c.msgtype).header.stamp.sec * 10**9
            + reader.deserialize(raw, c.msgtype).header.stamp.nanosec
            for c, _, raw in reader.messages() if c.topic == "/segmentation/labels"
        ]  # fmt: skip
    assert label_stamps == stamps
    with PilImage.open(out / "overlay.gif") as gif:
        assert gif.n_frames == FRAMES and gif.size == SIZE
    for name in ["report.md", "latency.png", "per_class_iou.png", "confusion.png", "samples.png", "node.log"]:
        assert (out / name).stat().st_size > 0, name
    assert "mIoU" in (out / "report.md").read_text()


def test_replay_at_the_recorded_rate_from_mcap_skips_and_counts_a_corrupt_message(
    tmp_path: Path, weights: Path
) -> None:
    make_bag(tmp_path / "bag", "mcap", corrupt=True, fps=20.0)
    out = tmp_path / "out"
    result = replay(str(tmp_path / "bag"), "--start-node", "--rate", "1", "--out", str(out), *node_args(weights),
                    "--no-cuda-graphs", domain=new_domain())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    figures = report["replay"]
    assert report["corrupt_messages"] == 1
    assert figures["frames_sent"] == FRAMES
    assert figures["outputs_received"] + figures["frames_lost"] == FRAMES
    assert figures["outputs_received"] >= 1 and report["frames"] == figures["outputs_received"]
    assert figures["dropped_by_node"] is not None and figures["dropped_by_node"] <= figures["frames_lost"]
    assert figures["input_hz"] > 0 and figures["mode"] == "rate x1"
    assert report["node_parameters"]["cuda_graphs"] is False  # the started node got the engine options


def test_listen_only_times_and_scores_what_another_player_publishes(tmp_path: Path, weights: Path) -> None:
    """A second replay process stands in for ``ros2 bag play``; both must see the same frames and outputs."""
    make_bag(tmp_path / "bag")
    domain = new_domain()
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    listener = subprocess.Popen(
        [sys.executable, "-m", "lednet_ros", "replay", str(tmp_path / "bag"), "--listen-only", "--start-node",
         "--idle-timeout", "4", "--out", str(tmp_path / "listen"), *node_args(weights)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listener.stderr is not None
        ready = ""
        while "play the bag now" not in ready and listener.poll() is None:  # the user starts ros2 bag play after this
            ready = listener.stderr.readline()
        # --delay: like ros2 bag play --delay, time for this new player and the listener to discover each other.
        player = replay(str(tmp_path / "bag"), "--lockstep", "--delay", "3", "--out", str(tmp_path / "play"),
                        domain=domain)  # fmt: skip
        stdout, stderr = listener.communicate(timeout=120)
    finally:
        listener.kill()
    assert player.returncode == 0, (
        player.stdout
        + player.stderr
        + (tmp_path / "listen" / "node.log").read_text()
        + stdout
        + stderr
        + (tmp_path / "play" / "report.json").read_text()
    )
    assert listener.returncode == 0, stdout + stderr
    heard = json.loads((tmp_path / "listen" / "report.json").read_text())
    played = json.loads((tmp_path / "play" / "report.json").read_text())
    assert heard["replay"]["mode"] == "listen-only"
    assert heard["replay"]["frames_sent"] == played["replay"]["frames_sent"] == FRAMES
    assert heard["replay"]["outputs_received"] == played["replay"]["outputs_received"] == FRAMES
    assert heard["miou"] == played["miou"] and heard["frames"] == FRAMES


# -- bad input -------------------------------------------------------------------


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lednet-ros replay: error: ")
    return lines[0]


def test_bad_bags_and_topics_give_one_error_line(tmp_path: Path, weights: Path) -> None:
    domain = new_domain()
    assert "no such bag" in one_error_line(replay(str(tmp_path / "nope"), "--weights", str(weights), domain=domain))
    make_bag(tmp_path / "bag")
    line = one_error_line(replay(str(tmp_path / "bag"), "--image-topic", "/front/image", "--weights", str(weights),
                                 domain=domain))  # fmt: skip
    assert "no topic '/front/image'" in line and "/camera/image_raw (sensor_msgs/msg/Image)" in line
    line = one_error_line(replay(str(tmp_path / "bag"), "--label-topic", "/camera/camera_info",
                                 "--weights", str(weights), domain=domain))  # fmt: skip
    assert "holds sensor_msgs/msg/CameraInfo" in line
    line = one_error_line(replay(str(tmp_path / "bag"), "--wait", "2", "--weights", str(weights), domain=domain))
    assert "no segmentation node publishes /segmentation/labels" in line
