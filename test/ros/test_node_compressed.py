"""The node's /compressed outputs and its compressedDepth input, end to end (issue 27).

One node (model 64x32, ``depth_transport:=compressedDepth``) segments street
scenes. Each ``segmentation/<name>/compressed`` twin is decoded by the
compressed plugin subscriber's rules with OpenCV (test/transport_rules.py)
and compared with the raw output of the same frame: exactly for labels and
confidence (PNG), within JPEG's loss for colour and overlay. Depth frames
sent as compressedDepth (PNG and RVL, 16UC1 and 32FC1, built from the
plugin's layout by test/depth_frames.py) must give the cloud the raw depth
gives with the same labels: the 16UC1 millimetres as they are, the 32FC1
metres after the plugin's quantization. A hostile compressedDepth frame is
rejected, and every depth frame lands in one counter.

The pure parts are in test/msgs/test_compressed_output.py and test_compressed_depth.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pointcloud2
import pytest
import rclpy
from conftest import randomized_checkpoint
from depth_frames import config_header, dequantize, frame, quantize
from ros_helpers import RELIABLE, Client, start_node, stop_node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from transport_rules import decode_like_compressed_subscriber

from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import Intrinsics, semantic_cloud
from lednet_ros.resources import config_file
from lednet_ros.ros import diagnostics

PALETTE = load_class_config(config_file("cityscapes.yaml")).palette()
OUTPUTS = ("labels", "color", "overlay", "confidence")
INFO = CameraInfo(width=48, height=32, k=[40.0, 0.0, 24.0, 0.0, 40.0, 16.0, 0.0, 0.0, 1.0])


def stamp_of(message: Image | CompressedImage | PointCloud2) -> int:
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(27)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "compressed.pt", checkpoint.build_model(), checkpoint.meta)


def depth_frames() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(encoding, codec, the raw depth, the metres a raw frame gives after the plugin's coding) of each case."""
    rng = np.random.default_rng(27)
    millimetres = rng.integers(400, 9000, (32, 48)).astype(np.uint16)
    millimetres[rng.random(millimetres.shape) < 0.2] = 0
    metres = rng.uniform(0.4, 12.0, (32, 48)).astype(np.float32)
    metres[rng.random(metres.shape) < 0.1] = np.nan
    q, a, b = quantize(metres)
    cases = []
    for codec in ("png", "rvl"):
        cases.append(("16UC1", codec, millimetres, millimetres.astype(np.float32) * np.float32(0.001)))
        cases.append(("32FC1", codec, metres, dequantize(q, a, b)))
    return cases


def test_compressed_twins_and_compressed_depth(weights: Path, tmp_path: Path) -> None:
    rclpy.init()
    log = tmp_path / "log"
    process = start_node("cmp", log, f"weights:={weights}", "model_width:=64", "model_height:=32",
                         "depth_topic:=depth/image", "depth_transport:=compressedDepth", "diagnostics_period:=0.3",
                         "jpeg_quality:=90")  # fmt: skip
    client = Client("cmp", outputs=(*OUTPUTS, *(f"{name}/compressed" for name in OUTPUTS)))
    node = client.node
    for subscription in client.subscriptions[len(OUTPUTS) :]:  # the twins are CompressedImage: subscribe them again
        node.destroy_subscription(subscription)
    client.subscriptions = client.subscriptions[: len(OUTPUTS)] + [
        node.create_subscription(CompressedImage, f"/cmp/segmentation/{name}/compressed",
                                 lambda m, n=name: client.received[f"{n}/compressed"].append(m), RELIABLE)
        for name in OUTPUTS
    ]  # fmt: skip
    clouds: list[PointCloud2] = []
    node.create_subscription(PointCloud2, "/cmp/segmentation/points", clouds.append, RELIABLE)
    depth_pub = node.create_publisher(CompressedImage, "/cmp/depth/image/compressedDepth", client.image.qos_profile)
    info_pub = node.create_publisher(CameraInfo, "/cmp/depth/camera_info", RELIABLE)
    try:
        client.wait_connected()
        assert client.spin_until(lambda: depth_pub.get_subscription_count() > 0, 30), log.read_text()
        check_twins(client, log)
        check_depth(client, depth_pub, info_pub, clouds, log)
        check_lazy(client, log)
    finally:
        node.destroy_node()
        code = stop_node(process)
        rclpy.try_shutdown()
    output = log.read_text()
    assert code == 0 and "Traceback" not in output, output


def check_twins(client: Client, log: Path) -> None:
    """Every twin of one frame, decoded by the plugin's rules, against the raw output of that frame."""
    colour = street_scene(64, 40, seed=5).image
    stamp = 3_000_000_000

    def complete() -> bool:
        return all(any(stamp_of(m) == stamp for m in messages) for messages in client.received.values())

    assert client.publish_until(complete, 60, "rgb8", colour, stamp), (client.latest_status(), log.read_text())
    for name in OUTPUTS:
        raw = next(m for m in client.received[name] if stamp_of(m) == stamp)
        twin = next(m for m in client.received[f"{name}/compressed"] if stamp_of(m) == stamp)
        assert twin.header == raw.header
        pixels = np.frombuffer(bytes(raw.data), np.uint8).reshape(raw.height, raw.width, -1)
        pixels = pixels[..., 0] if raw.encoding == "mono8" else pixels
        encoding, decoded = decode_like_compressed_subscriber(twin.format, bytes(twin.data))
        assert encoding == raw.encoding and decoded.shape == pixels.shape
        if name in ("labels", "confidence"):
            assert twin.format == f"{raw.encoding}; png compressed "
            assert np.array_equal(decoded, pixels), name
        else:
            assert twin.format == "rgb8; jpeg compressed bgr8"
            assert np.abs(decoded.astype(int) - pixels.astype(int)).mean() < 6.0, name
            assert np.abs(decoded.astype(int) - pixels[..., ::-1].astype(int)).mean() > 6.0, "channel order"


def check_depth(client: Client, depth_pub: object, info_pub: object, clouds: list[PointCloud2], log: Path) -> None:
    """Each compressedDepth case's cloud equals the cloud of its raw equivalent with the frame's labels."""
    colour = street_scene(48, 32, seed=6).image
    intrinsics = Intrinsics.from_camera_info(INFO.k, INFO.width, INFO.height)
    for index, (encoding, codec, depth, metres) in enumerate(depth_frames()):
        stamp = (10 + index) * 1_000_000_000
        format_field, data = frame(encoding, codec, depth)
        message = CompressedImage(format=format_field, data=data)
        message.header.stamp.sec, message.header.frame_id = 10 + index, "depth_optical"
        deadline = time.monotonic() + 60
        while not any(stamp_of(c) == stamp for c in clouds) and time.monotonic() < deadline:
            info_pub.publish(INFO)  # type: ignore[attr-defined]
            depth_pub.publish(message)  # type: ignore[attr-defined]
            client.publish("rgb8", colour, stamp, frame_id="color_optical")
            client.spin_until(lambda s=stamp: any(stamp_of(c) == s for c in clouds), 1.0)
        cloud = next((c for c in clouds if stamp_of(c) == stamp), None)
        assert cloud is not None, (encoding, codec, client.latest_status(), log.read_text())
        labels_message = next(m for m in client.received["labels"] if stamp_of(m) == stamp)
        labels = np.frombuffer(bytes(labels_message.data), np.uint8).reshape(32, 48)
        expected = semantic_cloud(metres, intrinsics, labels, PALETTE)
        points = pointcloud2.read_points(cloud)
        assert len(points) == len(expected) > 500, (encoding, codec)
        for field in ("x", "y", "z", "rgb", "label"):
            assert np.array_equal(points[field], expected[field]), (encoding, codec, field)
    # A lying RVL header (100000 x 100000) is refused from its 8 bytes, counted, and nothing more is allocated.
    hostile = CompressedImage(format="16UC1; compressedDepth rvl")
    hostile.data = config_header() + np.array([100000, 100000], "<u4").tobytes()
    values = client.latest_status()
    rejected = diagnostics.counter(values, diagnostics.DEPTH_REJECTED)
    depth_pub.publish(hostile)  # type: ignore[attr-defined]
    assert client.spin_until(lambda: diagnostics.counter(client.latest_status(), diagnostics.DEPTH_REJECTED) > rejected,
                             20), client.latest_status()  # fmt: skip
    assert "more than max_input_pixels" in log.read_text()
    client.publish("rgb8", colour, 100_000_000_000, frame_id="color_optical")  # a later frame: nothing waits to pair

    def balanced() -> bool:
        values = client.latest_status()
        handled = (diagnostics.CLOUDS, diagnostics.DEPTH_UNPAIRED, diagnostics.DEPTH_WITHOUT_CAMERA_INFO,
                   diagnostics.DEPTH_REJECTED, diagnostics.DEPTH_UNSUBSCRIBED)  # fmt: skip
        received = diagnostics.counter(values, diagnostics.DEPTH_RECEIVED)
        return received > 4 and received == sum(diagnostics.counter(values, key) for key in handled)

    assert client.spin_until(balanced, 20), client.latest_status()


def check_lazy(client: Client, log: Path) -> None:
    """Without a subscriber to a twin nothing is encoded for it, while the raw output goes on."""
    node = client.node
    for subscription in client.subscriptions[len(OUTPUTS) :]:
        node.destroy_subscription(subscription)
    twins = [diagnostics.published_key(f"{name}/compressed") for name in OUTPUTS]
    assert client.spin_until(lambda: "labels/compressed" not in client.latest_status().get(diagnostics.OUTPUTS, ""), 20)
    before = client.latest_status()
    assert before[diagnostics.COMPRESSED_FAILED] == "0" and diagnostics.counter(before, twins[0]) >= 1, before
    stamp = 50_000_000_000
    colour = street_scene(64, 40, seed=7).image
    assert client.publish_until(lambda: any(stamp_of(m) == stamp for m in client.received["labels"]), 30, "rgb8",
                                colour, stamp), log.read_text()  # fmt: skip
    assert client.spin_until(lambda: diagnostics.counter(client.latest_status(), diagnostics.published_key("labels"))
                             > diagnostics.counter(before, diagnostics.published_key("labels")), 10)  # fmt: skip
    after = client.latest_status()
    assert [diagnostics.counter(after, key) for key in twins] == [diagnostics.counter(before, key) for key in twins]
