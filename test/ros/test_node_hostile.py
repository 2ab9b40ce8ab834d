"""Hostile inputs against a real node process (issue 17): bombs cost nothing, every frame is counted.

One node (model 64x32, compressed input, a depth input) gets decompression
bombs (a real 16384 x 16384 PNG of 261 KB, a 16-bit RGBA header of 20000 x 20000, PNG
and JPEG headers claiming 60000 x 60000 and 65500 x 65500), formats
``CompressedImage`` does not carry, a compressedDepth frame and a
4000 x 4000 depth frame. Its peak RSS (``/proc``) must stay within bounds,
each bad frame must land in the rejected counter, the counters must
balance, and a good frame sent afterwards must be segmented.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from bombs import png_bomb
from conftest import randomized_checkpoint
from diagnostic_msgs.msg import DiagnosticArray
from ros_helpers import RELIABLE, process_memory_kib, start_node, stop_node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.ros import diagnostics
from lednet_ros.ros.diagnostics import frames_balance

BOMB_BOUND_MIB = 50
"""Issue 17: a compressed bomb may cost at most this above the node's peak before it."""
DEPTH_BOUND_MIB = 200
"""A 4000 x 4000 depth frame is a 32 MB message that the middleware and rclpy each hold a copy of."""


def jpeg_claiming(width: int, height: int) -> bytes:
    ok, payload = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    assert ok
    data = payload.tobytes()
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def png_claiming(width: int, height: int, *, depth: int = 8, colour: int = 0) -> bytes:
    """A 16 x 16 grey PNG whose IHDR (CRC fixed) claims another size, bit depth and colour type."""
    ok, payload = cv2.imencode(".png", np.zeros((16, 16), np.uint8))
    assert ok
    data = bytearray(payload.tobytes())
    data[16:26] = struct.pack(">IIBB", width, height, depth, colour)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def encoded(extension: str, image: np.ndarray) -> bytes:
    ok, payload = cv2.imencode(extension, image)
    assert ok
    return payload.tobytes()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(17)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "hostile.pt", checkpoint.build_model(), checkpoint.meta)


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


class Feeder:
    """Publishes compressed frames and depth to the node and reads its outputs and diagnostics."""

    def __init__(self, namespace: str) -> None:
        self.node = rclpy.create_node(f"feeder_{namespace}")
        self.image = self.node.create_publisher(CompressedImage, f"/{namespace}/image/compressed", RELIABLE)
        self.depth = self.node.create_publisher(Image, f"/{namespace}/depth/image", RELIABLE)
        self.depth_info = self.node.create_publisher(CameraInfo, f"/{namespace}/depth/camera_info", RELIABLE)
        self.labels: list[Image] = []
        self.node.create_subscription(Image, f"/{namespace}/segmentation/labels", self.labels.append, RELIABLE)
        self.node.create_subscription(PointCloud2, f"/{namespace}/segmentation/points", lambda _: None, RELIABLE)
        self.status: dict[str, str] = {}
        self.reasons: set[str] = set()
        """Every ``last_reject_reason`` seen."""
        self.input_topic = f"/{namespace}/image/compressed"
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, message: object) -> None:
        statuses = message.status  # type: ignore[attr-defined]
        values = diagnostics.camera_values(statuses, self.input_topic)
        if values is not None:
            self.status = values
            self.reasons.add(values.get(diagnostics.LAST_REJECT_REASON, ""))

    def spin_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if condition():
                return True
        return False

    def count(self, key: str) -> int:
        return diagnostics.counter(self.status, key) if key in self.status else -1

    def send(self, payload: bytes, format_field: str, stamp_ns: int) -> None:
        message = CompressedImage(format=format_field)
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        message.data = payload
        self.image.publish(message)

    def send_until_counted(self, payload: bytes, format_field: str, stamp_ns: int, key: str) -> None:
        """Send a frame (again each few seconds, in case discovery was late) until ``key`` grows and all balance."""
        before = max(self.count(key), 0)  # -1 before the first diagnostics: this frame must still be counted
        for _ in range(5):
            self.send(payload, format_field, stamp_ns)
            if self.spin_until(lambda: self.count(key) > before and frames_balance(self.status), 5.0):
                return
        pytest.fail(f"{format_field!r} frame of {len(payload)} bytes never counted as {key}: {self.status}")


def test_bombs_and_foreign_formats_are_rejected_counted_and_cost_no_memory(ros: None, weights: Path,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    log = tmp_path / "log"
    process = start_node("hostile", log, f"weights:={weights}", "model_width:=64", "model_height:=32",
                         "input_transport:=compressed", "input_qos_reliability:=reliable", "depth_topic:=depth/image",
                         "diagnostics_period:=0.2")  # fmt: skip
    feeder = Feeder("hostile")
    good = encoded(".png", street_scene(80, 48, seed=1).image[..., ::-1])
    try:
        connected = feeder.spin_until(
            lambda: feeder.image.get_subscription_count() > 0 and feeder.depth.get_subscription_count() > 0
            and {"labels", "points"} <= set(feeder.status.get(diagnostics.OUTPUTS, "").split(",")), 60)  # fmt: skip
        assert connected, log.read_text()
        feeder.send_until_counted(good, "png", 1_000, diagnostics.PROCESSED)
        baseline = process_memory_kib(process.pid)
        bad = [
            (png_bomb(16384, 16384), "png", "16384x16384"),
            (png_claiming(20000, 20000, depth=16, colour=6), "png", "20000x20000"),
            (png_claiming(60000, 60000), "png", "60000x60000"),
            (jpeg_claiming(65500, 65500), "jpeg", "65500x65500"),
            (png_claiming(1, 8_294_400), "png", "1x8294400"),
            (encoded(".bmp", np.zeros((8, 8, 3), np.uint8)), "", "not JPEG or PNG"),
            (encoded(".tiff", np.zeros((8, 8, 3), np.uint8)), "tiff", "not JPEG or PNG"),
            (encoded(".png", np.zeros((8, 8), np.uint16)), "16UC1; compressedDepth png", "compressedDepth"),
        ]
        started = time.monotonic()
        for index, (payload, format_field, _) in enumerate(bad):
            feeder.send_until_counted(payload, format_field, 2_000 + index, diagnostics.REJECTED)
        elapsed = time.monotonic() - started
        after_bombs = process_memory_kib(process.pid)
        bomb_growth = (after_bombs["VmHWM"] - baseline["VmHWM"]) / 1024

        depth = np.zeros((4000, 4000), np.uint16)
        depth_message = Image(height=4000, width=4000, encoding="16UC1", step=8000, data=depth.tobytes())
        feeder.depth_info.publish(CameraInfo(width=640, height=480, k=[500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]))
        for _ in range(5):
            feeder.depth.publish(depth_message)
            if feeder.spin_until(lambda: feeder.count(diagnostics.DEPTH_REJECTED) >= 1, 5.0):
                break
        assert feeder.count(diagnostics.DEPTH_REJECTED) >= 1, (feeder.status, log.read_text())
        depth_growth = (process_memory_kib(process.pid)["VmHWM"] - after_bombs["VmHWM"]) / 1024

        feeder.send_until_counted(good, "png", 9_000, diagnostics.PROCESSED)
        assert any(m.header.stamp.nanosec == 9_000 for m in feeder.labels) or feeder.spin_until(
            lambda: any(m.header.stamp.nanosec == 9_000 for m in feeder.labels), 10
        ), "the good frame after the bombs was not segmented"
        status, reasons = dict(feeder.status), set(feeder.reasons)
    finally:
        feeder.node.destroy_node()
        code = stop_node(process)
    output = log.read_text()
    print(f"bombs: peak RSS +{bomb_growth:.1f} MiB in {elapsed:.1f} s; depth +{depth_growth:.1f} MiB; {status}")
    assert code == 0 and "Traceback" not in output, output
    assert frames_balance(status), status
    assert diagnostics.counter(status, diagnostics.REJECTED) >= len(bad), status
    assert diagnostics.counter(status, diagnostics.FAILED) == 0, status
    for _, _, reason in bad:  # the log is throttled; the diagnostics name each rejected frame's reason
        assert any(reason in text for text in reasons), f"no status gave the reason {reason!r}: {reasons}"
    assert bomb_growth < BOMB_BOUND_MIB, f"the bombs raised peak RSS by {bomb_growth:.1f} MiB"
    assert depth_growth < DEPTH_BOUND_MIB, f"the depth frame raised peak RSS by {depth_growth:.1f} MiB"
