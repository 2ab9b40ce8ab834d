"""The soak's settings and bookkeeping, without ROS: frames and outputs, RSS, device memory, samples.

Imported by ``benchmarks/soak.py`` (which puts this folder and the
repository root on ``sys.path``) and by its tests.
"""

from __future__ import annotations

import array
import itertools
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lednet_ros.evaluation.stats import percentiles
from lednet_ros.ros.diagnostics import DROPPED, RECEIVED, counter
from lednet_ros.ros.node_process import cpu_seconds

__all__ = [
    "Ledger",
    "RssMeter",
    "Sample",
    "Sampler",
    "SoakOutcome",
    "SoakSettings",
    "device_memory_mib",
    "rss_growth_percent",
]

RSS_WINDOW_S = 60.0
"""Seconds of sample periods whose median RSS is the baseline (first after warm-up) and the end (last)."""
MATCH_WINDOW_S = 60.0  # sent stamps older than this are forgotten (bounded memory)


@dataclass(frozen=True)
class SoakSettings:
    """How long, how fast and how large the soak's frames are, and where its files go."""

    duration_s: float = 600.0
    rate_hz: float = 30.0
    size: tuple[int, int] = (1280, 720)
    sample_period_s: float = 5.0
    warmup_s: float | None = None
    """Seconds left out of the RSS baseline and the gap criterion; None: :meth:`default_warmup`."""
    out: Path = Path("out/soak")

    @staticmethod
    def default_warmup(duration_s: float) -> float:
        """30 s, or a quarter of the duration when that is shorter."""
        return min(30.0, duration_s / 4)

    @property
    def warmup(self) -> float:
        """The warm-up in seconds."""
        return self.default_warmup(self.duration_s) if self.warmup_s is None else self.warmup_s


@dataclass(frozen=True)
class Sample:
    """One reading, ``t_s`` seconds after the first frame; window figures cover the period since the last one."""

    t_s: float
    rss_mib: float
    rss_min_mib: float
    rss_max_mib: float
    device_mib: float | None
    node_cpu_percent: float
    client_cpu_percent: float
    output_hz: float
    latency_p95_ms: float | None
    sent: int
    outputs: int
    node_received: int | None
    node_dropped: int | None


@dataclass
class Ledger:
    """Frames sent and outputs received: header matching, output gaps, latencies.

    Times are seconds on one monotonic clock; stamps are nanoseconds.
    ``warmup_end`` and ``publish_end`` bound the gap measurement: the gap
    criterion covers the time from the end of the warm-up to the last frame
    published, both ends counting as boundaries.
    """

    warmup_end: float
    match_window_ns: int = int(MATCH_WINDOW_S * 1e9)
    sent: int = 0
    outputs: int = 0
    unmatched: int = 0
    out_of_order: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    latencies_after_warmup: array.array = field(default_factory=lambda: array.array("d"))
    outputs_after_warmup: int = 0
    max_gap_s: float = 0.0
    max_gap_end: float | None = None  # when the longest gap ended
    window_latencies: list[float] = field(default_factory=list)
    window_outputs: int = 0
    _sent: dict[int, str] = field(default_factory=dict)  # stamp -> frame_id, oldest first
    _last_output_time: float | None = None
    _last_stamp: int = -1
    _publish_end: float | None = None

    def frame_sent(self, stamp_ns: int, frame_id: str) -> None:
        """Remember a published frame; forget those older than the match window."""
        self.sent += 1
        self._sent[stamp_ns] = frame_id
        horizon = stamp_ns - self.match_window_ns
        while (oldest := next(iter(self._sent))) < horizon:
            del self._sent[oldest]

    def output_received(self, stamp_ns: int, frame_id: str, now: float, latency_ms: float) -> None:
        """Check one output's header against the frames sent and update the gap and window figures."""
        self.outputs += 1
        if self._sent.get(stamp_ns) != frame_id:
            self.unmatched += 1
            if len(self.unmatched_examples) < 5:
                self.unmatched_examples.append(f"stamp {stamp_ns} frame_id {frame_id!r}")
        if stamp_ns <= self._last_stamp:
            self.out_of_order += 1  # a repeated or older frame's labels: reported, not a criterion
        self._last_stamp = max(self._last_stamp, stamp_ns)
        self.window_outputs += 1
        self.window_latencies.append(latency_ms)
        if now < self.warmup_end or (self._publish_end is not None and now > self._publish_end):
            return
        self.outputs_after_warmup += 1
        self.latencies_after_warmup.append(latency_ms)
        self._gap_to(now)

    def _gap_to(self, now: float) -> None:
        last = self.warmup_end if self._last_output_time is None else self._last_output_time
        if now - last > self.max_gap_s:
            self.max_gap_s, self.max_gap_end = now - last, now
        self._last_output_time = now

    def publishing_ended(self, now: float) -> None:
        """The last frame went out: close the gap measurement at ``now``."""
        if now >= self.warmup_end:
            self._gap_to(now)
        self._publish_end = now

    def take_window(self) -> tuple[int, list[float]]:
        """Outputs and latencies since the previous call."""
        window = (self.window_outputs, self.window_latencies)
        self.window_outputs, self.window_latencies = 0, []
        return window


def rss_growth_percent(samples: list[Sample], warmup_s: float) -> tuple[float | None, float | None, float | None]:
    """Period-median RSS after warm-up: (baseline MiB, growth % to the highest period, growth % to the end).

    Only samples whose whole period lies after the warm-up count (a period
    starts at the previous sample). Baseline and end are medians over a
    window of :data:`RSS_WINDOW_S` seconds of periods at each end (a quarter
    of them when that is fewer, at least one), so that an excursion which is
    handed back does not count as growth while a leak or a lasting step
    does. Nones when no sample counts.
    """
    counted = [
        (s.t_s - previous.t_s, s.rss_mib) for previous, s in itertools.pairwise(samples) if previous.t_s >= warmup_s
    ]
    if not counted:
        return None, None, None
    period = max(counted[0][0], 1e-9)
    window = max(1, min(round(RSS_WINDOW_S / period), len(counted) // 4))
    medians = [rss for _, rss in counted]
    baseline = statistics.median(medians[:window])
    end = statistics.median(medians[-window:])
    return baseline, 100.0 * (max(medians) - baseline) / baseline, 100.0 * (end - baseline) / baseline


class RssMeter:
    """Median, lowest and highest resident set size of a process between two :meth:`take` calls.

    Reads ``/proc/<pid>/statm`` (its resident field is the counter ``VmRSS``
    of ``/proc/<pid>/status`` shows, one short line to parse), as often as
    :meth:`read` is called: once per frame published. Medians, because a
    single reading taken while a frame is being segmented includes that
    frame's transient buffers, and the allocator now and then hands memory
    back and takes it again.
    """

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/statm")
        self._page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
        self._readings: list[float] = []

    def read(self) -> float:
        """The RSS now, MiB."""
        value = int(self._path.read_text().split()[1]) * self._page_mib
        self._readings.append(value)
        return value

    def take(self) -> tuple[float, float, float]:
        """(median, lowest, highest) MiB since the last call, this moment included; starts a new period."""
        self.read()
        readings, self._readings = sorted(self._readings), []
        return statistics.median(readings), readings[0], readings[-1]


def device_memory_mib(pid: int, device: str) -> tuple[float | None, str]:
    """GPU memory of the node on ``device`` (``cuda:N``) from ``nvidia-smi``, and where the figure comes from.

    ``nvidia-smi`` lists processes by host PID; inside a container with its
    own PID namespace the node is not found, and the whole GPU's use (the
    node being its main user on a dedicated machine) is reported instead.
    """
    smi = shutil.which("nvidia-smi")
    if not device.startswith("cuda") or smi is None:
        return None, "n/a" if not device.startswith("cuda") else "n/a (no nvidia-smi)"
    index = device.partition(":")[2] or "0"
    try:
        apps = subprocess.run([smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10, check=True).stdout  # fmt: skip
        for line in apps.splitlines():
            fields = [f.strip() for f in line.split(",")]
            if len(fields) == 2 and fields[0] == str(pid) and fields[1].isdigit():
                return float(fields[1]), "nvidia-smi, node process"
        total = subprocess.run([smi, f"--id={index}", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
        return float(total.splitlines()[0]), f"nvidia-smi, whole GPU {index}"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None, "n/a (nvidia-smi failed)"


class Sampler:
    """Takes the soak's :class:`Sample` every period: the node's RSS, CPU and device memory, the ledger's window."""

    def __init__(self, pid: int, device: str, ledger: Ledger, start: float) -> None:
        self.pid, self.device, self.ledger, self.start = pid, device, ledger, start
        self.rss = RssMeter(pid)
        self.device_source = "n/a"
        self._cpu, self._client, self._time = cpu_seconds(pid), time.process_time(), start

    def take(self, now: float, status: Mapping[str, str]) -> Sample:
        """The reading at ``now`` (``time.monotonic()``), with the node's latest diagnostics ``status``."""
        cpu, client = cpu_seconds(self.pid), time.process_time()
        outputs, latencies = self.ledger.take_window()
        elapsed = max(now - self._time, 1e-9)
        moved = now > self._time
        device_mib, self.device_source = device_memory_mib(self.pid, self.device)
        median, low, high = self.rss.take()
        reading = Sample(
            round(now - self.start, 2), round(median, 1), round(low, 1), round(high, 1), device_mib,
            round(100.0 * (cpu - self._cpu) / elapsed, 1) if moved else 0.0,
            round(100.0 * (client - self._client) / elapsed, 1) if moved else 0.0,
            round(outputs / elapsed, 2) if moved else 0.0,
            round(percentiles(latencies)[1], 1) if latencies else None,
            self.ledger.sent, self.ledger.outputs,
            counter(status, RECEIVED) if RECEIVED in status else None,
            counter(status, DROPPED) if DROPPED in status else None,
        )  # fmt: skip
        self._cpu, self._client, self._time = cpu, client, now
        return reading


@dataclass
class SoakOutcome:
    """What the soak's client saw, for the report."""

    ledger: Ledger
    samples: list[Sample]
    status: dict[str, str]
    """The node's last diagnostics values of the soaked camera."""
    device: str
    device_source: str
    start: float
    publish_end: float
