"""Rates, latency percentiles and counters for the node's diagnostics, without ROS.

Each camera keeps one :class:`CameraTelemetry`; the node's diagnostics timer
reads a :meth:`CameraTelemetry.snapshot` once a second. Everything is
guarded by one lock because the subscription callbacks, the inference thread
and the timer touch it from different threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from lednet_ros.evaluation.stats import percentiles

__all__ = ["CameraTelemetry", "CloudSnapshot", "RateMeter", "TelemetrySnapshot"]


class RateMeter:
    """Events per second over a sliding window of wall-clock time.

    The rate is the number of events in the last ``window_s`` seconds divided
    by the window (or by the time since the first event, while that is
    shorter), so it falls to 0 when events stop.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._first: float | None = None

    def tick(self, now: float | None = None) -> None:
        """Record one event."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = now
        self._times.append(now)

    def rate(self, now: float | None = None) -> float:
        """Events per second in the window ending at ``now``."""
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        if self._first is None:
            return 0.0
        span = min(self.window_s, now - self._first)
        return len(self._times) / span if span > 0 else 0.0


@dataclass(frozen=True)
class TelemetrySnapshot:
    """One diagnostics reading."""

    received: int
    processed: int
    dropped: int
    rejected: int
    failed: int
    unsubscribed: int
    """Frames taken while nobody subscribed to any output (not segmented, by design)."""
    input_hz: float
    output_hz: float
    latency_ms: tuple[float, float, float]  # p50, p95, max
    inference_ms: tuple[float, float, float]
    last_reject_reason: str
    published: tuple[tuple[str, int], ...] = ()
    """Messages published per output topic name (``labels``, ``color``, ...), for loss accounting downstream."""


@dataclass(frozen=True)
class CloudSnapshot:
    """One diagnostics reading of the semantic point cloud (the camera with the depth input)."""

    clouds: int
    build_ms: float
    """Time to decode, back-project and pack the last cloud."""
    unpaired: int
    """Depth frames given up on without a colour frame within the tolerance."""
    without_camera_info: int
    rejected: int
    received: int = 0
    """Depth frames that arrived; each ends in one of the counters above, or ``unsubscribed`` (or still waits to pair)."""
    unsubscribed: int = 0
    """Depth frames that arrived while nobody subscribed to the cloud: not decoded."""


@dataclass
class CameraTelemetry:
    """Counters and windows of one camera stream (thread-safe)."""

    window: int = 300
    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    failed: int = 0
    unsubscribed: int = 0
    last_reject_reason: str = ""
    published: dict[str, int] = field(default_factory=dict)
    _input: RateMeter = field(default_factory=RateMeter)
    _output: RateMeter = field(default_factory=RateMeter)
    _latency: deque[float] = field(default_factory=deque)
    _inference: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_received(self, replaced_unprocessed: bool) -> None:
        """A frame arrived; ``replaced_unprocessed`` when it overwrote one never processed (a drop)."""
        with self._lock:
            self.received += 1
            self.dropped += int(replaced_unprocessed)
            self._input.tick()

    def on_discarded(self) -> None:
        """A frame was still waiting when the node was deactivated: counted as dropped, never segmented."""
        with self._lock:
            self.dropped += 1

    def on_rejected(self, reason: str) -> None:
        """A frame could not be used (bad encoding, size, payload)."""
        with self._lock:
            self.rejected += 1
            self.last_reject_reason = reason

    def on_failed(self) -> None:
        """Inference on a frame failed (e.g. out of GPU memory); the frame is skipped."""
        with self._lock:
            self.failed += 1

    def on_unsubscribed(self) -> None:
        """A frame was taken while no output had a subscriber: no inference ran (counted so totals balance)."""
        with self._lock:
            self.unsubscribed += 1

    def on_output(self, name: str) -> None:
        """One message went out on output ``name``."""
        with self._lock:
            self.published[name] = self.published.get(name, 0) + 1

    def on_published(self, latency_ms: float, inference_ms: float) -> None:
        """Outputs of one frame went out ``latency_ms`` after its header stamp."""
        with self._lock:
            self.processed += 1
            self._output.tick()
            for values, value in ((self._latency, latency_ms), (self._inference, inference_ms)):
                values.append(value)
                if len(values) > self.window:
                    values.popleft()

    def snapshot(self) -> TelemetrySnapshot:
        """Current counters, rates and percentiles."""

        def stats(values: deque[float]) -> tuple[float, float, float]:
            return percentiles(values) if values else (0.0, 0.0, 0.0)  # diagnostics show 0 before the first frame

        with self._lock:
            return TelemetrySnapshot(
                self.received, self.processed, self.dropped, self.rejected, self.failed, self.unsubscribed,
                self._input.rate(), self._output.rate(), stats(self._latency), stats(self._inference),
                self.last_reject_reason, tuple(sorted(self.published.items())),
            )  # fmt: skip
