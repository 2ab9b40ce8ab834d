"""The soak's ROS side: the node in its own process, and the camera that feeds it and watches it.

Imported by ``benchmarks/soak.py`` (which puts this folder and the
repository root on ``sys.path``). rclpy is imported once the node's process
is started, because that process is started with a ``preexec_fn``, which is
unsafe once this process runs rclpy's threads.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from soak_ledger import Ledger, Sample, Sampler, SoakOutcome, SoakSettings
from tqdm import tqdm

from lednet_ros.data.synthetic import street_scene
from lednet_ros.errors import LednetError
from lednet_ros.inference.options import EngineOptions
from lednet_ros.msgs.stamps import header_stamp_ns
from lednet_ros.ros.diagnostics import DEVICE, camera_values
from lednet_ros.ros.node_process import engine_parameters, node_command, stop_node_process
from lednet_ros.ros.transport import apply_large_image_profile

__all__ = ["run_soak"]

STARTUP_TIMEOUT_S = 180.0  # the node exports / warms up its model before it subscribes
SETTLE_S = 2.0  # after the last frame, labels still in flight are collected (for matching only)
SCENES = 4  # distinct frames published in turn (made once: generating 1280x720 scenes takes a while)
REPO_ROOT = Path(__file__).resolve().parents[1]


def run_soak(settings: SoakSettings, options: EngineOptions) -> SoakOutcome:
    """Start the node, soak it as ``settings`` say, stop it; what the client saw.

    Raises:
        LednetError: the node did not come up, or exited during the soak.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    apply_large_image_profile()  # camera-sized frames over shared memory, here and in the node started next
    namespace = f"soak_{os.getpid()}"
    process = _start_node(settings, options, namespace)
    try:
        import rclpy  # noqa: PLC0415 (ROS only once the node is started)

        rclpy.init()
        try:
            client = _SoakClient(namespace, process, settings)
            try:
                device = client.wait_for_node(options.device)
                return client.soak(device)
            finally:
                client.destroy()
        finally:
            rclpy.try_shutdown()
    finally:
        stop_node_process(process)


def _die_with_parent() -> None:
    """In the node's process before exec: SIGTERM it when this script dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the finally clause still stops the node
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_node(settings: SoakSettings, options: EngineOptions, namespace: str) -> subprocess.Popen[bytes]:
    """The node in ``namespace``, its output in ``OUT/node.log``, running this checkout's ``lednet_ros``."""
    node_params, node_env = engine_parameters(options)
    command = node_command(f"/{namespace}", None, {
        "diagnostics_period": 0.5, "warmup_image_sizes": [f"{settings.size[0]}x{settings.size[1]}"], **node_params,
    })  # fmt: skip
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, **node_env, "PYTHONPATH": python_path}
    settings.out.mkdir(parents=True, exist_ok=True)
    with (settings.out / "node.log").open("wb") as log:  # the child keeps its own descriptor
        # Started before rclpy.init(), while this process has one thread (preexec_fn is unsafe with more).
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509  # fmt: skip


def _node_failure(process: subprocess.Popen[bytes], out: Path, what: str) -> LednetError:
    tail = (out / "node.log").read_text(errors="replace").strip().splitlines()[-1:]
    return LednetError(
        f"{what} (status {process.returncode}): {tail[0] if tail else 'no output'}; see {out / 'node.log'}"
    )


def _frames(size: tuple[int, int]) -> list[Any]:
    """:data:`SCENES` ``bgr8`` street scenes, published in turn."""
    from sensor_msgs.msg import Image  # noqa: PLC0415

    messages = []
    for seed in range(SCENES):
        image = street_scene(*size, seed=seed).image[..., ::-1].copy()
        message = Image(height=size[1], width=size[0], encoding="bgr8", step=size[0] * 3)
        message.data = array.array("B", image.tobytes())
        messages.append(message)
    return messages


class _SoakClient:
    """The camera: publishes stamped frames at the rate, checks every output, samples the node per period."""

    def __init__(self, namespace: str, process: subprocess.Popen[bytes], settings: SoakSettings) -> None:
        import rclpy  # noqa: PLC0415
        from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415
        from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
        from sensor_msgs.msg import Image  # noqa: PLC0415

        self._rclpy, self.process, self.settings = rclpy, process, settings
        self.input_topic = f"/{namespace}/image"
        self.node = rclpy.create_node(f"soak_client_{os.getpid()}")
        self.ledger = Ledger(warmup_end=float("inf"))  # set once publishing starts
        self.status: dict[str, str] = {}
        self.publisher = self.node.create_publisher(
            Image, self.input_topic, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        )
        self.labels = self.node.create_subscription(Image, f"/{namespace}/segmentation/labels", self._on_labels,
                                                    QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self._last_stamp = 0

    def _on_labels(self, message: Any) -> None:
        stamp = header_stamp_ns(message.header)
        self.ledger.output_received(stamp, message.header.frame_id, time.monotonic(), (time.time_ns() - stamp) / 1e6)

    def _on_diagnostics(self, message: Any) -> None:
        values = camera_values(message.status, self.input_topic)
        if values is not None:
            self.status = values

    def _spin_until(self, until: float, step_s: float) -> None:
        while time.monotonic() < until:
            self._rclpy.spin_once(self.node, timeout_sec=step_s)

    def wait_for_node(self, requested_device: str) -> str:
        """Spin until the node listens, publishes labels and reports diagnostics; the device it runs on."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (self.publisher.get_subscription_count() and self.labels.get_publisher_count() and self.status):
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
            if self.process.poll() is not None:
                raise _node_failure(self.process, self.settings.out, "the node exited during start-up")
            if time.monotonic() > deadline:
                msg = f"the node did not come up in {STARTUP_TIMEOUT_S:g} s; see {self.settings.out / 'node.log'}"
                raise LednetError(msg)
        self._spin_until(time.monotonic() + 0.5, 0.05)  # let the other endpoints finish matching
        return self.status.get(DEVICE, requested_device)

    def _publish(self, message: Any) -> None:
        """``message`` with the next strictly increasing stamp (even if the clock steps) and its own frame_id."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp, 10**9)
        message.header.frame_id = f"soak_{self.ledger.sent}"
        self.publisher.publish(message)
        self.ledger.frame_sent(stamp, message.header.frame_id)
        self._last_stamp = stamp

    def soak(self, device: str) -> SoakOutcome:
        """Publish for the duration, sampling every period; then collect the labels still in flight."""
        settings, ledger = self.settings, self.ledger
        messages = _frames(settings.size)
        samples: list[Sample] = []
        period, start = 1.0 / settings.rate_hz, time.monotonic()
        end = start + settings.duration_s
        ledger.warmup_end = start + settings.warmup
        sampler = Sampler(self.process.pid, device, ledger, start)
        next_frame = next_sample = start
        bar = tqdm(total=round(settings.duration_s), desc="soak", unit="s", disable=None)
        try:
            while (now := time.monotonic()) < end:
                if now >= next_frame:
                    self._publish(messages[ledger.sent % SCENES])
                    sampler.rss.read()
                    next_frame += period
                    if next_frame < now:  # fell behind (a slow spin): skip the missed slots rather than burst
                        next_frame = now + period
                if now >= next_sample:
                    samples.append(sampler.take(now, self.status))
                    next_sample += settings.sample_period_s
                    _show(bar, samples[-1], min(round(settings.duration_s), round(now - start)))
                if self.process.poll() is not None:
                    raise _node_failure(self.process, settings.out, "the node exited during the soak")
                timeout = max(0.0, min(next_frame, next_sample, end) - time.monotonic())
                self._rclpy.spin_once(self.node, timeout_sec=timeout)
            now = time.monotonic()
            ledger.publishing_ended(now)
            samples.append(sampler.take(now, self.status))
            bar.update(round(settings.duration_s) - bar.n)
        finally:
            bar.close()
        self._spin_until(time.monotonic() + SETTLE_S, 0.05)
        return SoakOutcome(ledger, samples, self.status, device, sampler.device_source, start, now)

    def destroy(self) -> None:
        """Remove the client's node."""
        self.node.destroy_node()


def _show(bar: tqdm, last: Sample, seconds: int) -> None:
    """The progress bar at ``seconds``, with the latest RSS and output rate."""
    bar.set_postfix_str(f"RSS {last.rss_mib:.0f} MiB, {last.output_hz:.1f} Hz", refresh=False)
    bar.update(seconds - bar.n)
