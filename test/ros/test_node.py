"""The segmentation node in its own process, driven over real rclpy and Fast DDS.

Discovery is kept on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST)
and on a domain id of its own, so parallel runs do not see each other.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from conftest import randomized_checkpoint
from ros_helpers import BEST_EFFORT, RELIABLE, Client, spin_until, stamp_ns, start_node, stop_node
from sensor_msgs.msg import CameraInfo, Image

from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.msgs.image import decode_image
from lednet_ros.ros.diagnostics import frames_balance
from lednet_ros.ros.parameters import PARAMETER_NAMES, PARAMETERS

MODEL = (64, 32)
ROS_OWN_PARAMETERS = {"use_sim_time", "start_type_description_service"}
"""Declared by rclpy itself on every node."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(6)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "node_test.pt", checkpoint.build_model(), checkpoint.meta)


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def running(
    ros: None, weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Client, subprocess.Popen[bytes], Path]]:
    log = tmp_path_factory.mktemp("node") / "node.log"
    process = start_node("cam", log, f"weights:={weights}", f"model_width:={MODEL[0]}", f"model_height:={MODEL[1]}",
                         "diagnostics_period:=0.5")  # fmt: skip
    client = Client("cam")
    try:
        client.wait_connected()
        yield client, process, log
    finally:
        client.node.destroy_node()
        code = stop_node(process)
        output = log.read_text()
        assert code == 0, output
        assert "Traceback" not in output, output


ENGINE: dict[str, SegmentationEngine] = {}


def engine_labels(weights: Path, message: Image) -> np.ndarray:
    engine = ENGINE.setdefault("e", SegmentationEngine(weights, device="cpu", model_size=MODEL))
    decoded = decode_image(
        message.encoding, message.height, message.width, message.step, message.is_bigendian, bytes(message.data)
    )
    return engine.infer(np.ascontiguousarray(decoded.pixels), order="bgr" if decoded.order == "bgr" else "rgb").labels


def frames() -> Iterator[tuple[str, np.ndarray, dict]]:
    scene = street_scene(80, 48, seed=2).image
    odd = street_scene(53, 37, seed=3).image
    yield "rgb8", scene, {}
    yield "bgr8", np.ascontiguousarray(odd[..., ::-1]), {}
    yield "mono8", np.ascontiguousarray(scene[..., 1]), {}
    rgba = np.dstack([scene, np.full(scene.shape[:2], 255, np.uint8)])
    padded = np.zeros((48, 80 * 4 + 12), np.uint8)
    padded[:, : 80 * 4] = rgba.reshape(48, -1)
    yield "rgba8", rgba, {"step": padded.shape[1], "data": padded.tobytes()}
    words = (scene[..., 0].astype(np.uint16) * 257).astype(">u2")
    yield "mono16", scene[..., 0], {"step": 160, "data": words.tobytes(), "big_endian": True}
    yield "yuv422", np.zeros((48, 80, 2), np.uint8) + 128, {}
    yield "bayer_rggb8", np.ascontiguousarray(scene[..., 1]), {}


def test_outputs_carry_the_input_header_and_equal_the_engine(running: tuple, weights: Path) -> None:
    client, _, _ = running
    names = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "confidence": "mono8"}
    for index, (encoding, pixels, extra) in enumerate(frames()):
        stamp = 1_000_000_000 * (100 + index) + 123
        for values in client.received.values():
            values.clear()

        def outputs_of_this_frame(stamp: int = stamp) -> dict[str, Image]:
            # Resending (best effort may lose a sample) can let a late output of the previous frame arrive too.
            return {n: m for n in names for m in client.received[n] if stamp_ns(m) == stamp}

        message = client.publish(encoding, pixels, stamp, **extra)
        assert client.publish_until(lambda: len(outputs_of_this_frame()) == len(names), 30, encoding, pixels, stamp,
                                    **extra), encoding  # fmt: skip
        height, width = message.height, message.width
        outputs = outputs_of_this_frame()
        for name, expected_encoding in names.items():
            out = outputs[name]
            assert out.header.frame_id == "cam_optical"
            assert (out.encoding, out.height, out.width) == (expected_encoding, height, width), (encoding, name)
        for name in names:  # every output that arrived carries the header of a frame that was sent
            assert all(stamp_ns(m) in {stamp, stamp - 1_000_000_000} for m in client.received[name]), (encoding, name)
        labels = np.frombuffer(bytes(outputs["labels"].data), np.uint8).reshape(height, width)
        agreement = float(np.mean(labels == engine_labels(weights, message)))
        assert agreement >= 0.999, f"{encoding}: labels agree with the engine on {agreement:.2%}"


def test_camera_info_is_republished_with_the_frame_header(running: tuple) -> None:
    client, _, _ = running
    info = CameraInfo(width=80, height=48, k=[50.0, 0.0, 40.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0])
    info.header.frame_id = "cam_optical"
    client.info.publish(info)
    client.spin_until(lambda: False, 1.0)
    client.received["camera_info"].clear()
    assert client.publish_until(
        lambda: bool(client.received["camera_info"]), 30, "rgb8", street_scene(80, 48, seed=4).image, 5_000_000_000
    )
    out = client.received["camera_info"][-1]
    assert out.header.stamp.sec == 5 and out.width == 80 and out.k[0] == 50.0


def test_bad_messages_are_rejected_and_counted_and_the_node_keeps_working(running: tuple) -> None:
    client, _, _ = running
    good = street_scene(80, 48, seed=5).image
    client.publish("rgb16", good, 1)  # unsupported encoding
    client.spin_until(lambda: False, 0.3)
    client.publish("rgb8", good, 2, step=100)  # step too small
    client.spin_until(lambda: False, 0.3)
    client.publish("rgb8", good, 3, data=good.tobytes()[:-5])  # data shorter than step x height
    client.spin_until(lambda: False, 0.3)
    client.publish("rgb8", np.zeros((0, 0, 3), np.uint8), 4, step=0, data=b"")  # empty
    client.spin_until(lambda: False, 0.3)
    assert client.set_parameter("max_input_pixels", 100) == (True, "")
    client.publish("rgb8", good, 5)  # 3840 pixels > 100
    client.spin_until(lambda: False, 0.3)
    assert client.set_parameter("max_input_pixels", 3840 * 2160) == (True, "")
    client.received["labels"].clear()
    assert client.publish_until(lambda: bool(client.received["labels"]), 30, "rgb8", good, 6_000_000_000), (
        "a good frame after bad ones is processed"
    )
    assert client.spin_until(lambda: int(client.latest_status().get("rejected", 0)) >= 5, 10), client.latest_status()
    assert client.received["labels"][-1].header.stamp.sec == 6


def test_overlay_alpha_changes_at_run_time_and_bad_values_are_refused(running: tuple) -> None:
    client, _, _ = running
    assert client.set_parameter("overlay_alpha", 0.0) == (True, "")
    image = street_scene(80, 48, seed=7).image
    client.received["overlay"].clear()
    assert client.publish_until(lambda: bool(client.received["overlay"]), 30, "rgb8", image, 7_000_000_000)
    overlay = np.frombuffer(bytes(client.received["overlay"][-1].data), np.uint8).reshape(48, 80, 3)
    assert np.array_equal(overlay, image), "alpha 0 shows the camera image alone"
    successful, reason = client.set_parameter("overlay_alpha", 1.5)
    assert not successful and reason
    assert client.set_parameter("overlay_alpha", 0.5) == (True, "")


def test_frames_faster_than_inference_drop_the_oldest_and_the_newest_wins(running: tuple) -> None:
    """Every frame that arrives is processed or dropped (none queue up), and outputs never go back in time."""
    client, _, _ = running
    image = street_scene(640, 480, seed=8).image  # full-size outputs make each frame slower than the 2 ms pacing
    assert client.spin_until(lambda: bool(client.latest_status()), 10)
    before = client.latest_status()
    client.received["labels"].clear()
    for _ in range(40):
        client.publish("rgb8", image, time.time_ns())
        client.spin_until(lambda: False, 0.002)

    def settled() -> bool:
        """Everything that ever arrived is accounted for (the node's totals, not differences from ``before``,
        which a frame still in inference at that moment would leave unbalanced for good)."""
        status = client.latest_status()
        return (
            frames_balance(status)
            and int(status["received"]) > int(before["received"])
            and bool(client.received["labels"])
        )

    assert client.spin_until(settled, 60), repr(client.latest_status())
    after = client.latest_status()
    dropped = int(after["dropped"]) - int(before["dropped"])
    assert dropped > 0, after
    # Outputs are reliable with depth 1 (latest wins there too), so the client may see fewer than were published.
    stamps = [stamp_ns(m) for m in client.received["labels"]]
    assert stamps == sorted(set(stamps)), "an older frame was published after a newer one"
    assert len(stamps) <= int(after["processed"]) - int(before["processed"])


def test_the_node_declares_exactly_the_parameter_table_with_its_descriptors(running: tuple) -> None:
    client, _, _ = running
    declared = set(client.list_parameters()) - ROS_OWN_PARAMETERS
    assert declared == set(PARAMETER_NAMES)
    descriptors = client.describe_parameters(list(PARAMETER_NAMES))
    for parameter, descriptor in zip(PARAMETERS, descriptors, strict=True):
        expected = parameter.descriptor()
        assert descriptor.name == parameter.name and descriptor.description == expected.description
        assert descriptor.read_only == expected.read_only
        assert descriptor.additional_constraints == expected.additional_constraints
        assert [(r.from_value, r.to_value) for r in descriptor.integer_range] == [
            (r.from_value, r.to_value) for r in expected.integer_range
        ]
        assert [(r.from_value, r.to_value) for r in descriptor.floating_point_range] == [
            (r.from_value, r.to_value) for r in expected.floating_point_range
        ]
    assert client.get_parameter("model_width") == MODEL[0]  # an override, read back through the table's name


def test_no_subscribers_means_no_inference(ros: None, weights: Path, tmp_path: Path) -> None:
    process = start_node("quiet", tmp_path / "log", f"weights:={weights}", f"model_width:={MODEL[0]}",
                         f"model_height:={MODEL[1]}", "diagnostics_period:=0.5")  # fmt: skip
    client = Client("quiet", outputs=())
    try:
        assert client.spin_until(lambda: client.image.get_subscription_count() > 0, 60)
        for i in range(5):
            client.publish("rgb8", street_scene(80, 48, seed=i).image, i + 1)
            client.spin_until(lambda: False, 0.2)
        assert client.spin_until(lambda: int(client.latest_status().get("received", 0)) >= 1, 10)
        assert client.latest_status()["processed"] == "0"
        # ... and the frames are not lost from the books: each one is counted as taken with nobody listening.
        assert client.spin_until(lambda: frames_balance(client.latest_status()), 10), repr(client.latest_status())
        assert int(client.latest_status()["unsubscribed"]) >= 1
    finally:
        client.node.destroy_node()
        assert stop_node(process, signal.SIGTERM) == 0, (tmp_path / "log").read_text()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["weights:=/nonexistent/w.pt"], "weights file not found"),
        (["output_resolution:=sideways"], "output_resolution='sideways' is not one of"),
        (["model_width:=64"], "set both model_width and model_height"),
        (["device:=cuda:7"], "device 'cuda:7'"),
        (["publish_classes:=[road,lawn]"], "publish_classes: 'lawn' not in the class set"),
    ],
)
def test_bad_start_up_settings_give_one_error_line_and_exit_1(tmp_path: Path, params: list[str], message: str) -> None:
    process = start_node("broken", tmp_path / "log", *params)
    code = process.wait(timeout=120)
    output = (tmp_path / "log").read_text()
    assert code == 1, output
    assert message in output and "Traceback" not in output
    assert sum("error" in line for line in output.splitlines()) == 1, output


def test_two_compressed_cameras_at_model_resolution(ros: None, weights: Path, tmp_path: Path) -> None:
    """cameras:=[front, rear] with input_transport:=compressed and output_resolution:=model."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    process = start_node("multi", tmp_path / "log", f"weights:={weights}", f"model_width:={MODEL[0]}", f"model_height:={MODEL[1]}",
                         "cameras:=['front', 'rear']", "input_transport:=compressed", "output_resolution:=model")  # fmt: skip
    node = rclpy.create_node("client_multi")
    received: dict[str, list] = {"front": [], "rear": [], "front_info": []}
    try:
        publishers = {
            cam: node.create_publisher(CompressedImage, f"/multi/{cam}/image/compressed", BEST_EFFORT)
            for cam in ("front", "rear")
        }
        info_pub = node.create_publisher(CameraInfo, "/multi/front/camera_info", RELIABLE)
        for cam in ("front", "rear"):
            node.create_subscription(Image, f"/multi/{cam}/segmentation/labels", received[cam].append, RELIABLE)
        node.create_subscription(
            CameraInfo, "/multi/front/segmentation/camera_info", received["front_info"].append, RELIABLE
        )
        client = Client.__new__(Client)
        client.node = node
        assert client.spin_until(lambda: all(p.get_subscription_count() > 0 for p in publishers.values()), 60), (
            tmp_path / "log"
        ).read_text()
        assert client.spin_until(lambda: False, 1.0) is False
        info_pub.publish(CameraInfo(width=160, height=96, k=[100.0, 0.0, 80.0, 0.0, 100.0, 48.0, 0.0, 0.0, 1.0],
                                    p=[100.0, 0.0, 80.0, 0.0, 0.0, 100.0, 48.0, 0.0, 0.0, 0.0, 1.0, 0.0]))  # fmt: skip
        spin_until(node, lambda: False, 0.5)
        for index, cam in enumerate(("front", "rear")):
            image = street_scene(160, 96, seed=10 + index).image
            _, payload = cv2.imencode(".jpg", image[..., ::-1])
            message = CompressedImage(format="jpeg", data=payload.tobytes())
            message.header.stamp.sec = 40 + index
            message.header.frame_id = f"{cam}_optical"
            publishers[cam].publish(message)
        assert spin_until(node, lambda: bool(received["front"] and received["rear"] and received["front_info"]), 60)
        for index, cam in enumerate(("front", "rear")):
            out = received[cam][-1]
            assert (
                (out.width, out.height) == MODEL
                and out.header.frame_id == f"{cam}_optical"
                and out.header.stamp.sec == 40 + index
            )
        info = received["front_info"][-1]
        assert (info.width, info.height) == MODEL
        assert info.k[0] == pytest.approx(100.0 * 64 / 160) and info.k[5] == pytest.approx(48.0 * 32 / 96)
        publishers["rear"].publish(CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"))
        spin_until(node, lambda: False, 1.0)
        assert "cannot decode the compressed payload" in (tmp_path / "log").read_text()
    finally:
        node.destroy_node()
        assert stop_node(process) == 0, (tmp_path / "log").read_text()
