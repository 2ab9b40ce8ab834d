"""The managed node (``segmentation_lifecycle_node``) driven with the real ``ros2 lifecycle set``.

Started by ``ros2 launch ... managed:=true``; every transition is a
``ros2 lifecycle set`` command, as a user or a lifecycle manager's operator
types it. What each state does is checked from outside: the log, the ROS
graph (is the camera subscribed?), the outputs and ``/diagnostics``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from ros2_tooling import Launch, Ros2, ros2_fixture, with_daemon  # noqa: F401 (the ros2 fixture)
from ros_helpers import Client

from lednet_ros.data.synthetic import street_scene
from lednet_ros.ros import diagnostics
from lednet_ros.ros.parameters import PARAMETER_NAMES

NODE = "/managed/lednet_segmentation"
ROS_OWN_PARAMETERS = {"use_sim_time", "start_type_description_service"}
SMALL = ("device:=cpu", "model_width:=64", "model_height:=32", "diagnostics_period:=0.5",
         "image_topic:=/managed/image", "camera_info_topic:=/managed/camera_info")  # fmt: skip


@pytest.fixture(scope="module")
def managed(ros2: Ros2) -> Iterator[Ros2]:
    """The tools with a ros2 daemon for this module (stopped at its end)."""
    with with_daemon(ros2) as tools:
        yield tools


@pytest.fixture
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


def lifecycle(ros2: Ros2, verb: str, *args: str) -> str:
    """``ros2 lifecycle VERB NODE ARGS`` (retried while the node is not discovered yet); its output.

    Retried for a minute, not a number of times: the daemon's graph has been seen to miss a live node for
    ten tries in a row (about 30 s) on a loaded machine.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = ros2.run("lifecycle", verb, NODE, *args, timeout=120)
        if "Node not found" not in result.stdout:
            return result.stdout.strip()
        time.sleep(0.5)
    raise AssertionError(f"ros2 lifecycle {verb}: {NODE} not found")


def transition(ros2: Ros2, name: str, expect: str | None = None) -> None:
    """``ros2 lifecycle set NODE name``; with ``expect``, ``ros2 lifecycle get`` must show that state after it."""
    output = lifecycle(ros2, "set", name)
    assert "Transitioning successful" in output, output
    if expect is not None:
        assert lifecycle(ros2, "get").startswith(expect), name


def _start(ros2: Ros2, tmp_path: Path, *args: str) -> Launch:
    launch = ros2.launch(tmp_path / "launch.log", "namespace:=managed", "managed:=true", *SMALL, *args)
    deadline = time.monotonic() + 60
    while "process started" not in launch.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    return launch


def _segments(client: Client, seed: int, timeout: float = 20.0) -> bool:
    """Whether the node answers a frame with labels within ``timeout`` (a few tries: best effort may lose one)."""
    client.received["labels"].clear()
    frame = street_scene(64, 32, seed=seed).image
    return client.publish_until(lambda: bool(client.received["labels"]), timeout, "rgb8", frame, time.time_ns())


def test_transitions_load_subscribe_stop_and_free(managed: Ros2, ros: None, tmp_path: Path) -> None:
    """configure -> activate -> deactivate -> activate -> deactivate -> cleanup -> configure -> activate -> shutdown."""
    with _start(managed, tmp_path) as launch:
        client = Client("managed", outputs=("labels",))
        try:
            _run_through_the_states(managed, launch, client)
        finally:
            client.node.destroy_node()
        launch.assert_clean_interrupt()


def _run_through_the_states(managed: Ros2, launch: Launch, client: Client) -> None:
    """Every transition, and what each state does, seen from outside."""
    assert lifecycle(managed, "get").startswith("unconfigured"), launch.output()
    assert set(client.list_parameters()) - ROS_OWN_PARAMETERS == set(PARAMETER_NAMES)  # the plain node's, declared
    transition(managed, "configure", "inactive")
    assert "warmed up for 64x32" in launch.output()
    assert client.image.get_subscription_count() == 0  # inactive: no camera input, so no inference

    transition(managed, "activate")
    client.wait_connected()
    assert _segments(client, 1), launch.output()
    assert diagnostics.OUTPUTS in client.latest_status(), "no /diagnostics while active"

    transition(managed, "deactivate", "inactive")
    assert client.spin_until(lambda: client.image.get_subscription_count() == 0, 10)
    assert not _segments(client, 2, timeout=3)  # stopped: nothing published
    loads = launch.output().count("warmed up")
    transition(managed, "activate")  # the engine was kept: no second load
    client.wait_connected()
    assert _segments(client, 3)
    assert launch.output().count("warmed up") == loads

    transition(managed, "deactivate")
    transition(managed, "cleanup", "unconfigured")
    assert "engine freed" in launch.output()
    assert client.spin_until(lambda: all(s.get_publisher_count() == 0 for s in client.subscriptions), 10)

    transition(managed, "configure")  # loads again
    assert launch.output().count("warmed up") == loads + 1
    transition(managed, "activate")
    client.wait_connected()
    assert _segments(client, 4)
    transition(managed, "shutdown", "finalized")  # from active
    assert client.spin_until(lambda: client.image.get_subscription_count() == 0, 10)


def test_bad_weights_fail_configure_with_the_reason(managed: Ros2, ros: None, tmp_path: Path) -> None:
    """A weights file that is not one: configure fails and says why; the node stays unconfigured; shutdown works."""
    bad = tmp_path / "not_weights.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with _start(managed, tmp_path, f"weights:={bad}") as launch:
        output = lifecycle(managed, "set", "configure")
        assert "Transitioning failed" in output, output
        deadline = time.monotonic() + 10
        while "configure failed" not in launch.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        failure = next(line for line in launch.output().splitlines() if "configure failed" in line)
        assert str(bad) in failure, failure
        assert lifecycle(managed, "get").startswith("unconfigured")
        transition(managed, "shutdown", "finalized")  # from unconfigured
        launch.assert_clean_interrupt()
