"""Faults a node on a vehicle meets, each against a real node process: it must keep going and lose nothing else.

Camera drivers restart, change resolution and encoding, two of them end up
on one topic, a replay floods the node, viewers come and go, somebody sets a
parameter wrongly, a weights file is broken. Each test starts its own node
(model 64x32, randomised weights) in its own namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from conftest import randomized_checkpoint
from ros_helpers import RELIABLE, Client, process_memory_kib, spin_until, stamp_ns, start_node, stop_node
from sensor_msgs.msg import CameraInfo, Image

from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.ros.diagnostics import frames_balance

MODEL = (64, 32)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(8)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "faults.pt", checkpoint.build_model(), checkpoint.meta)


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


class NodeProcess:
    """A segmentation node in its own process; on exit it must stop cleanly, without a traceback."""

    def __init__(self, namespace: str, log: Path, weights: Path, *params: str) -> None:
        self.log = log
        self.process = start_node(namespace, log, f"weights:={weights}", f"model_width:={MODEL[0]}",
                                  f"model_height:={MODEL[1]}", "diagnostics_period:=0.3", *params)  # fmt: skip

    def __enter__(self) -> subprocess.Popen[bytes]:
        return self.process

    def __exit__(self, *exc: object) -> None:
        code = stop_node(self.process)
        output = self.log.read_text()
        assert code == 0, output
        assert "Traceback" not in output, output


def _outputs_with_stamp(client: Client, name: str, stamp: int) -> list[Image]:
    return [m for m in client.received[name] if stamp_ns(m) == stamp]


def test_camera_driver_restart_is_followed_without_restarting_the_node(
    ros: None, weights: Path, tmp_path: Path
) -> None:
    image = street_scene(80, 48, seed=1).image
    with NodeProcess("restart", tmp_path / "log", weights) as process:
        first = Client("restart", outputs=("labels",))
        first.wait_connected()
        assert first.publish_until(lambda: bool(_outputs_with_stamp(first, "labels", 1_000)), 30, "rgb8", image, 1_000)
        first.node.destroy_node()  # the driver goes away ...
        time.sleep(1.5)
        second = Client("restart", outputs=("labels",))  # ... and comes back as a new participant
        try:
            second.wait_connected()
            assert second.publish_until(lambda: bool(_outputs_with_stamp(second, "labels", 2_000)), 30, "rgb8", image,
                                        2_000), (tmp_path / "log").read_text()  # fmt: skip
            assert process.poll() is None
        finally:
            second.node.destroy_node()


@pytest.mark.parametrize("resolution", ["input", "model"])
def test_resolution_and_encoding_changes_mid_stream_are_followed(ros: None, weights: Path, tmp_path: Path,
                                                                 resolution: str) -> None:  # fmt: skip
    """Outputs follow each new size and encoding at once; so does camera_info (scaled when outputs are at model size)."""
    sequence = [("rgb8", 80, 48), ("bgr8", 160, 96), ("mono8", 40, 24), ("rgb8", 80, 48)]
    with NodeProcess("resize", tmp_path / "log", weights, f"output_resolution:={resolution}"):
        client = Client("resize", outputs=("labels", "camera_info"))
        try:
            client.wait_connected()
            for index, (encoding, width, height) in enumerate(sequence):
                scene = street_scene(width, height, seed=index).image
                pixels = {"rgb8": scene, "bgr8": np.ascontiguousarray(scene[..., ::-1]),
                          "mono8": np.ascontiguousarray(scene[..., 1])}[encoding]  # fmt: skip
                fx = 0.8 * width
                info = CameraInfo(
                    width=width, height=height, k=[fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
                )
                stamp = 10_000 + index

                def answered(stamp: int = stamp) -> bool:
                    return bool(_outputs_with_stamp(client, "labels", stamp)) and bool(
                        _outputs_with_stamp(client, "camera_info", stamp)
                    )

                # camera_info goes with every attempt: one sent before the node's subscription matched is lost.
                deadline = time.monotonic() + 30
                while not answered() and time.monotonic() < deadline:
                    client.info.publish(info)
                    client.spin_until(lambda: False, 0.1)
                    client.publish(encoding, pixels, stamp)
                    client.spin_until(answered, 1.0)
                assert answered(), (encoding, width, height)
                labels = _outputs_with_stamp(client, "labels", stamp)[-1]
                out_info = _outputs_with_stamp(client, "camera_info", stamp)[-1]
                expected = (width, height) if resolution == "input" else MODEL
                assert (labels.width, labels.height) == expected, (encoding, width, height)
                assert (out_info.width, out_info.height) == expected
                assert out_info.k[0] == pytest.approx(fx * expected[0] / width)
                assert out_info.k[5] == pytest.approx(height / 2 * expected[1] / height)
        finally:
            client.node.destroy_node()


def test_two_publishers_on_one_topic_are_both_served(ros: None, weights: Path, tmp_path: Path) -> None:
    with NodeProcess("shared", tmp_path / "log", weights) as process:
        client = Client("shared", outputs=("labels",))
        other = rclpy.create_node("second_driver")
        second = other.create_publisher(Image, "/shared/image", client.image.qos_profile)
        try:
            client.wait_connected()
            assert spin_until(other, lambda: second.get_subscription_count() > 0, 30)
            image = street_scene(80, 48, seed=3).image
            sent: dict[int, str] = {}
            for index in range(12):
                stamp = 20_000 + index
                if index % 2:  # the drivers take turns, each with frames of its own
                    message = Image(height=48, width=80, encoding="rgb8", step=240, data=image.tobytes())
                    message.header.stamp.nanosec = stamp
                    message.header.frame_id = "driver_b"
                    second.publish(message)
                else:
                    client.publish("rgb8", image, stamp, frame_id="driver_a")
                sent[stamp] = "driver_b" if index % 2 else "driver_a"
                client.spin_until(lambda: False, 0.25)
            assert client.spin_until(
                lambda: {m.header.frame_id for m in client.received["labels"]} >= {"driver_a", "driver_b"}, 20
            ), [m.header.frame_id for m in client.received["labels"]]
            for message in client.received["labels"]:
                assert sent.get(stamp_ns(message)) == message.header.frame_id  # every output belongs to a sent frame
            assert process.poll() is None
        finally:
            other.destroy_node()
            client.node.destroy_node()


def test_a_burst_of_1000_frames_leaves_memory_flat_and_the_node_answering(ros: None, weights: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    """1000 VGA frames at once (0.9 MB each): the newest-frame slot keeps at most one waiting; none queue up.

    Whether the node answers, before and after, is asked with a small frame: a VGA frame is some 15 UDP
    fragments, and where Fast DDS has no shared memory (some CI containers) best effort may lose every try.
    """
    image = street_scene(640, 480, seed=4).image
    probe = street_scene(80, 48, seed=4).image
    with NodeProcess("burst", tmp_path / "log", weights) as process:
        client = Client("burst", outputs=("labels",))
        try:
            client.wait_connected()
            assert client.publish_until(lambda: bool(client.received["labels"]), 30, "rgb8", probe, 1), repr(
                client.latest_status()
            )
            # One VGA frame through the whole path first: its first-time allocations are not the burst's.
            warmed = client.publish_until(lambda: any(m.width == 640 for m in client.received["labels"]), 30, "rgb8",
                                          image, 2)  # fmt: skip
            assert warmed, f"no VGA frame was segmented in 30 s: {client.latest_status()!r}"
            assert client.spin_until(lambda: frames_balance(client.latest_status()), 10), repr(client.latest_status())
            before_memory = process_memory_kib(process.pid)
            before = client.latest_status()
            message = client.publish("rgb8", image, 3)
            for index in range(1000):
                message.header.stamp.nanosec = 4 + index
                client.image.publish(message)
                if index % 50 == 0:
                    rclpy.spin_once(client.node, timeout_sec=0)
            last = 5_000_000_000
            answered = client.publish_until(lambda: bool(_outputs_with_stamp(client, "labels", last)), 60, "rgb8",
                                            probe, last)  # fmt: skip
            assert answered, f"the node does not answer after the burst: {client.latest_status()!r}"

            def settled() -> bool:
                """Every frame that ever reached the node was segmented, dropped or rejected: none is waiting.

                The node's own totals are compared, not differences from ``before``: a copy of the first frame
                may still have been in inference when ``before`` was taken, and then differences never balance.
                """
                return frames_balance(client.latest_status()) and int(client.latest_status()["received"]) > int(
                    before["received"]
                )

            assert client.spin_until(settled, 20), repr(client.latest_status())
            after_memory = process_memory_kib(process.pid)
            after = client.latest_status()
        finally:
            client.node.destroy_node()
    received = int(after["received"]) - int(before["received"])
    peak_growth_mib = (after_memory["VmHWM"] - before_memory["VmHWM"]) / 1024
    print(f"burst: {received} frames reached the node, peak RSS +{peak_growth_mib:.1f} MiB, {after}")
    assert received > 0 and frames_balance(after)  # nothing left waiting, nothing lost inside the node
    assert int(after["dropped"]) > int(before["dropped"])
    # Had the frames queued up anywhere in the node, the peak would have grown by up to 900 MiB.
    assert peak_growth_mib < 100, f"peak RSS grew by {peak_growth_mib:.1f} MiB"


def test_outputs_switch_on_and_off_with_their_subscribers(ros: None, weights: Path, tmp_path: Path) -> None:
    image = street_scene(80, 48, seed=5).image
    with NodeProcess("lazy", tmp_path / "log", weights):
        client = Client("lazy", outputs=())
        try:
            assert client.spin_until(lambda: client.image.get_subscription_count() > 0, 60)
            assert client.spin_until(lambda: client.latest_status().get("outputs") == "none", 10)
            color: list[Image] = []
            subscription = client.node.create_subscription(Image, "/lazy/segmentation/color", color.append, RELIABLE)
            assert client.spin_until(lambda: client.latest_status().get("outputs") == "color", 20), (
                client.latest_status()
            )
            assert client.publish_until(lambda: bool(color), 30, "rgb8", image, 1)
            assert color[-1].encoding == "rgb8"
            client.node.destroy_subscription(subscription)
            assert client.spin_until(lambda: client.latest_status().get("outputs") == "none", 20), (
                client.latest_status()
            )
            processed = int(client.latest_status()["processed"])
            received = int(client.latest_status()["received"])
            for index in range(5):
                client.publish("rgb8", image, 100 + index)
                client.spin_until(lambda: False, 0.2)
            assert client.spin_until(lambda: int(client.latest_status()["received"]) > received, 10)
            assert int(client.latest_status()["processed"]) == processed, "no subscriber, no inference"
        finally:
            client.node.destroy_node()


def test_invalid_run_time_parameters_are_refused_and_the_old_value_kept(ros: None, weights: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    with NodeProcess("params", tmp_path / "log", weights):
        client = Client("params", outputs=("labels",))
        try:
            client.wait_connected()
            attempts = [
                ("overlay_alpha", -0.1),  # out of its range
                ("overlay_alpha", "half"),  # wrong type
                ("max_input_pixels", 0),  # out of its range
                ("device", "cpu"),  # read-only: fixed at start-up
                ("model_width", 128),  # read-only
            ]
            for name, value in attempts:
                old = client.get_parameter(name)
                successful, reason = client.set_parameter(name, value)
                assert not successful and reason, (name, value)
                assert client.get_parameter(name) == old, (name, value)
            assert client.set_parameter("overlay_alpha", 0.25) == (True, "")
            assert client.get_parameter("overlay_alpha") == 0.25
            image = street_scene(80, 48, seed=6).image
            assert client.publish_until(lambda: bool(client.received["labels"]), 30, "rgb8", image, 1), (
                "the node still works after the refused changes"
            )
        finally:
            client.node.destroy_node()


def _broken_weights(kind: str, directory: Path, good: Path) -> Path:
    path = directory / f"{kind}.pt"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "unreadable":
        path.write_bytes(good.read_bytes())
        path.chmod(0)
    return path


@pytest.mark.parametrize("kind", ["directory", "empty", "garbage", "truncated", "unreadable"])
def test_unusable_weights_at_start_up_give_one_error_line_and_exit_1(weights: Path, tmp_path: Path, kind: str) -> None:
    wrapper = None
    if kind == "unreadable" and os.geteuid() == 0:
        # Root reads a mode-0 file through CAP_DAC_OVERRIDE; without any capability it is denied like anyone.
        wrapper = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all"]
        usable = shutil.which("setpriv") is not None and subprocess.run([*wrapper, "true"], check=False).returncode == 0
        if not usable:  # no util-linux, or a container that may not drop capabilities (no CAP_SETPCAP)
            pytest.skip("running as root and setpriv cannot drop the capability to read any file here")
    path = _broken_weights(kind, tmp_path, weights)
    log = tmp_path / "log"
    process = start_node("broken_weights", log, f"weights:={path}", wrapper=wrapper)
    try:
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    output = log.read_text()
    assert code == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and str(path) in errors[0], output
    if kind == "unreadable":  # said as a read error, not as a corrupt file
        assert "cannot read the weights file: Permission denied" in errors[0], output
