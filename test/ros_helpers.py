"""What the ROS tests share: a node process, a client that feeds it and collects its outputs.

Importing this module keeps DDS discovery on this machine
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and on a domain id of this test
process, so parallel runs do not see each other; it must be imported before
rclpy is initialised (rclpy.init reads the domain id).
"""

from __future__ import annotations

import array
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lednet_ros.ros.transport import large_image_environment, large_image_profile

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Camera-sized frames over shared memory, in this process and the nodes it starts: no test may depend on best
# effort delivering a frame larger than Fast DDS's default 0.5 MB segment (lednet_ros.ros.transport).
os.environ.update(large_image_environment(os.environ, large_image_profile()))

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from lednet_ros.ros import diagnostics
from lednet_ros.ros.node_process import node_command

BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def stamp_ns(message: Image | CameraInfo) -> int:
    """A message's header stamp in nanoseconds."""
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


def start_node(namespace: str, log: Path, *params: str, wrapper: list[str] | None = None) -> subprocess.Popen[bytes]:
    """The node in its own process; ``wrapper`` is a command line to run it under (setpriv, say)."""
    args = [*(wrapper or []), *node_command(f"/{namespace}")]
    for param in params:
        args += ["-p", param]
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop_node(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return -999


def spin_until(node: rclpy.node.Node, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``node`` until ``condition()`` holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if condition():
            return True
    return False


class Client:
    """A test node that publishes camera frames and collects the segmentation outputs."""

    def __init__(
        self, namespace: str, outputs: tuple[str, ...] = ("labels", "color", "overlay", "confidence", "camera_info")
    ) -> None:
        self.node = rclpy.create_node(f"client_{namespace}")
        self.image = self.node.create_publisher(Image, f"/{namespace}/image", BEST_EFFORT)
        self.info = self.node.create_publisher(CameraInfo, f"/{namespace}/camera_info", RELIABLE)
        self.received: dict[str, list] = {name: [] for name in outputs}
        self.subscriptions = [
            self.node.create_subscription(CameraInfo if name == "camera_info" else Image, f"/{namespace}/segmentation/{name}",
                                          lambda m, n=name: self.received[n].append(m), RELIABLE)
            for name in outputs
        ]  # fmt: skip
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.namespace = namespace

    def spin_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        return spin_until(self.node, condition, timeout)

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Wait until both sides see each other: this client the node's endpoints, and the node our subscriptions.

        Discovery is not symmetric. Until the node has matched a subscription it does not segment for it
        (outputs are lazy), so the node's own word, the ``outputs`` key of its diagnostics, is waited for too.
        """
        ok = self.spin_until(
            lambda: (
                self.image.get_subscription_count() > 0 and all(s.get_publisher_count() > 0 for s in self.subscriptions)
            ),
            timeout,
        )
        assert ok, "the node did not come up (see its log)"
        if self.received:
            served = self.spin_until(lambda: set(self.received) <= set(self.latest_status().get(diagnostics.OUTPUTS, "").split(",")),
                                     timeout)  # fmt: skip
            assert served, f"the node does not see our subscriptions: {self.latest_status()!r}"

    def publish(self, encoding: str, pixels: np.ndarray, stamp_ns: int, *, step: int | None = None, data: bytes | None = None,
                big_endian: bool = False, frame_id: str = "cam_optical") -> Image:  # fmt: skip
        message = Image()
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        message.header.frame_id = frame_id
        message.height, message.width = pixels.shape[:2]
        raw = pixels.tobytes() if data is None else data
        message.step = step if step is not None else pixels.strides[0]
        message.encoding = encoding
        message.is_bigendian = int(big_endian)
        message.data = array.array("B", raw)
        self.image.publish(message)
        return message

    def publish_until(self, condition: Callable[[], bool], timeout: float, *args: object, **kwargs: object) -> bool:
        """Publish one frame (same stamp) again every second until ``condition()``: best effort may lose a sample."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.publish(*args, **kwargs)  # type: ignore[arg-type]
            if self.spin_until(condition, min(1.0, max(0.0, deadline - time.monotonic()))):
                return True
        return False

    def latest_status(self) -> dict[str, str]:
        """The values of the newest /diagnostics status of this client's camera ({} before the first)."""
        for message in reversed(self.diagnostics):
            values = diagnostics.camera_values(message.status, f"/{self.namespace}/image")
            if values is not None:
                return values
        return {}

    def set_parameter(self, name: str, value: float | str) -> tuple[bool, str]:
        """Set one of the node's parameters (int -> INTEGER, float -> DOUBLE, str -> STRING): (successful, reason)."""
        client = self.node.create_client(SetParameters, f"/{self.namespace}/lednet_segmentation/set_parameters")
        assert client.wait_for_service(timeout_sec=20)
        if isinstance(value, str):
            typed = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        elif isinstance(value, int):
            typed = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
        else:
            typed = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=typed)])
        future = client.call_async(request)
        assert self.spin_until(future.done, 20)
        result = future.result().results[0]
        return result.successful, result.reason

    def get_parameter(self, name: str) -> object:
        """The node's current value of one parameter (through its get_parameters service)."""
        client = self.node.create_client(GetParameters, f"/{self.namespace}/lednet_segmentation/get_parameters")
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(GetParameters.Request(names=[name]))
        assert self.spin_until(future.done, 20)
        value = future.result().values[0]
        return {
            ParameterType.PARAMETER_STRING: value.string_value,
            ParameterType.PARAMETER_INTEGER: value.integer_value,
            ParameterType.PARAMETER_DOUBLE: value.double_value,
            ParameterType.PARAMETER_BOOL: value.bool_value,
        }.get(value.type)

    def list_parameters(self) -> list[str]:
        """The names of every parameter the node has declared (through its list_parameters service)."""
        future = self._call(ListParameters, "list_parameters", ListParameters.Request())
        return list(future.result().result.names)

    def describe_parameters(self, names: list[str]) -> list[ParameterDescriptor]:
        """The node's descriptors of ``names`` (through its describe_parameters service)."""
        future = self._call(DescribeParameters, "describe_parameters", DescribeParameters.Request(names=names))
        return list(future.result().descriptors)

    def _call(self, service: type, name: str, request: object) -> object:
        client = self.node.create_client(service, f"/{self.namespace}/lednet_segmentation/{name}")
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(request)
        assert self.spin_until(future.done, 20)
        return future


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0])
    return fields
