"""The managed node's transitions leak nothing (issue 25, item 5), and the launch-side fixes that go with them.

The lifecycle node runs in this process, driven by its own ``trigger_*``
transitions, so that a batch can be held inside the engine for as long as a
test needs: the engine's ``infer_batch`` is wrapped with a gate (the node,
its subscriptions and its messages are the real rclpy ones). Frames are
handed to the node's image callback directly, as the executor would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from conftest import randomized_checkpoint
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from ros2_tooling import Ros2, ros2_fixture  # noqa: F401 (the ros2 fixture)
from ros_helpers import RELIABLE, spin_until
from sensor_msgs.msg import Image

from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.ros.diagnostics import COUNTERS, frames_balance
from lednet_ros.ros.launch_arguments import NOT_GIVEN, parameter_overrides
from lednet_ros.ros.lifecycle_node import SegmentationLifecycleNode
from lednet_ros.ros.parameters import PARAMETERS

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "/fixes"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SegmentationLifecycleNode]:
    """A configured (inactive) managed node with a depth input and a listener for its labels."""
    checkpoint = randomized_checkpoint(8)
    weights = save_checkpoint(tmp_path_factory.mktemp("w") / "fixes.pt", checkpoint.build_model(), checkpoint.meta)
    rclpy.init()
    overrides = [Parameter("weights", value=str(weights)), Parameter("model_width", value=64),
                 Parameter("model_height", value=32), Parameter("backend", value="torch"),
                 Parameter("device", value="cpu"), Parameter("depth_topic", value="depth/image_raw")]  # fmt: skip
    managed = SegmentationLifecycleNode(namespace=NAMESPACE, parameter_overrides=overrides)
    listener = rclpy.create_node("fixes_listener")
    labels: list[Image] = []
    listener.create_subscription(Image, f"{NAMESPACE}/segmentation/labels", labels.append, RELIABLE)
    try:
        assert managed.trigger_configure() == TransitionCallbackReturn.SUCCESS
        publisher = managed._cameras[0].publishers["labels"]
        assert spin_until(listener, lambda: publisher.get_subscription_count() > 0, 20)
        yield managed
    finally:
        managed.trigger_shutdown()
        listener.destroy_node()
        managed.destroy_node()
        rclpy.try_shutdown()


def _frame(stamp_ns: int) -> Image:
    message = Image(height=32, width=64, encoding="rgb8", step=64 * 3)
    message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    message.data = np.random.default_rng(stamp_ns).integers(0, 255, 64 * 32 * 3, dtype=np.uint8).tobytes()
    return message


class Gate:
    """Wraps the engine's ``infer_batch``: each batch waits until the test opens the gate."""

    def __init__(self, managed: SegmentationLifecycleNode) -> None:
        self.engine = managed.engine
        self.original = managed.engine.infer_batch
        self.entered = threading.Event()
        self.open = threading.Event()
        managed.engine.infer_batch = self._held

    def _held(self, *args: object, **kwargs: object) -> object:
        self.entered.set()
        self.open.wait(60)
        return self.original(*args, **kwargs)

    def remove(self) -> None:
        self.open.set()
        self.engine.infer_batch = self.original


def _inference_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lednet_inference" and t.is_alive()]


def test_deactivate_waits_for_a_batch_slower_than_any_timeout(node: SegmentationLifecycleNode) -> None:
    """A batch still running at deactivate must end before deactivate returns (it used to give up after 5 s)."""
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    gate = Gate(node)
    try:
        node._on_image(node._cameras[0], _frame(1))
        assert gate.entered.wait(20), "the frame never reached the engine"
        done = threading.Event()
        deactivating = threading.Thread(target=lambda: (node.trigger_deactivate(), done.set()))
        deactivating.start()
        assert not done.wait(6.0), "deactivate returned while the batch was still running"
        gate.open.set()
        assert done.wait(20)
        deactivating.join()
        assert _inference_threads() == []
    finally:
        gate.remove()
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert len(_inference_threads()) == 1  # one thread, not a second beside a forgotten one
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS


def test_frames_waiting_at_deactivate_are_counted(node: SegmentationLifecycleNode) -> None:
    """received keeps balancing across deactivate: the frame left in the box is counted as dropped."""
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    camera = node._cameras[0]
    before = camera.telemetry.snapshot()
    gate = Gate(node)
    try:
        node._on_image(camera, _frame(10))
        assert gate.entered.wait(20)
        node._on_image(camera, _frame(11))  # waits in the box behind the held batch
        deactivating = threading.Thread(target=node.trigger_deactivate)
        deactivating.start()
        deadline = time.monotonic() + 10
        while node._running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not node._running
        gate.open.set()
        deactivating.join(30)
    finally:
        gate.remove()
    after = camera.telemetry.snapshot()
    values = {key: str(getattr(after, key)) for key in COUNTERS}
    assert after.received - before.received == 2
    assert after.dropped - before.dropped == 1
    assert frames_balance(values), values


def test_depth_is_subscribed_only_while_active(node: SegmentationLifecycleNode) -> None:
    depth = f"{NAMESPACE}/depth/image_raw"
    info = f"{NAMESPACE}/depth/camera_info"
    assert node.count_subscribers(depth) == 0 and node.count_subscribers(info) == 0
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert node.count_subscribers(depth) == 1 and node.count_subscribers(info) == 1
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node.count_subscribers(depth) == 0 and node.count_subscribers(info) == 0


def test_a_failed_activate_leaves_the_node_inactive_as_it_was(node: SegmentationLifecycleNode) -> None:
    image = f"{NAMESPACE}/image"
    before = {*node.subscriptions, *node.timers}

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no timer today")

    node.create_timer = refuse  # the last step of activate fails, after the subscriptions were made
    try:
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    finally:
        del node.create_timer
    assert node._state_machine.current_state[1] == "inactive"
    assert {*node.subscriptions, *node.timers} == before
    assert node.count_subscribers(image) == 0 and _inference_threads() == []
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert node.count_subscribers(image) == 1 and len(_inference_threads()) == 1
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS


def test_an_empty_argument_typed_on_the_command_line_clears_what_a_file_set() -> None:
    given = {parameter.name: NOT_GIVEN for parameter in PARAMETERS}
    assert parameter_overrides({**given, "weights": "", "depth_topic": ""}) == {"weights": "", "depth_topic": ""}
    assert parameter_overrides(given) == {}


def test_rviz_gets_the_node_namespace_under_push_ros_namespace(ros2: Ros2, tmp_path: Path) -> None:
    """The launch file included under ``PushRosNamespace('fleet')`` with ``namespace:=front``, two cameras."""
    script = textwrap.dedent(f"""
        import importlib.util, json, pathlib
        from launch import LaunchContext
        from launch_ros.actions import PushRosNamespace
        spec = importlib.util.spec_from_file_location("seg_launch", {str(REPO / "launch" / "segmentation.launch.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        context = LaunchContext()
        PushRosNamespace("fleet").execute(context)
        namespace = module._node_namespace(context, "front")
        path = module._rviz_config(pathlib.Path({str(REPO)!r}), namespace, ["", "rear"])
        print(json.dumps({{"namespace": namespace, "config": path.read_text()}}))
        path.unlink()
    """)
    result = subprocess.run([sys.executable, "-c", script], env=ros2.env, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["namespace"] == "/fleet/front"
    displays = yaml.safe_load(answer["config"])["Visualization Manager"]["Displays"]
    topics = [d["Topic"]["Value"] for d in displays]
    assert "/fleet/front/segmentation/overlay" in topics and "/fleet/front/rear/segmentation/overlay" in topics
    assert [t for t in topics if t.endswith("/points")] == ["/fleet/front/segmentation/points"]
    assert all(t.startswith("/fleet/front/") for t in topics)
