#!/usr/bin/env python3
"""Soak test of ``segmentation_node``: hours of a camera's traffic, compressed into minutes.

Run from the repository root::

    python benchmarks/soak.py [--duration 600] [--rate 30] [--size 1280x720] [--device cuda] ...

The script puts the repository root on ``sys.path`` itself (``python
benchmarks/soak.py`` only adds ``benchmarks/``), so it measures the
checkout's ``lednet_ros`` whether or not the package is installed, and it
passes the same root to the node's process through ``PYTHONPATH``.

What it does: starts the node in its own process (as ``lednet-ros
bench-node`` does, output in ``OUT/node.log``), publishes ``bgr8`` frames at
``--rate`` Hz for ``--duration`` seconds (best effort, like a camera driver),
each with its own, strictly increasing header stamp and its own ``frame_id``
(``soak_<n>``), and subscribes to ``segmentation/labels`` (reliable, like
rviz2). Every ``--sample-period`` seconds it records:

* the node's RSS: the median, lowest and highest of its resident set size
  (``VmRSS``, read from ``/proc/<pid>/statm`` at every frame published)
  over the period just ended; its CPU use, and this script's
  own (on a small machine the publisher competes with the node for CPU);
* on CUDA, device memory from ``nvidia-smi``: the node process's own
  figure, or the whole GPU's where the process is not listed (a container
  with its own PID namespace); "n/a" without ``nvidia-smi`` or on the CPU.
  The node does not report device memory itself;
* over the period just ended: the output rate and the latency p95 (header
  stamp to labels arriving here);
* the node's ``dropped`` and ``received`` counters from ``/diagnostics``.

A node that cannot keep up with the rate (the CPU at 1280x720) drops frames
by design (the newest frame wins): drops are reported, not judged. Large
frames may want the DDS profile of the README ("Large images"): set
``FASTRTPS_DEFAULT_PROFILES_FILE``; the node inherits the environment.

Pass criteria (each printed PASS or FAIL; exit status 0 when all pass, else 1):

* **RSS growth after warm-up < 2%**, on period medians: the baseline B is
  the median of the period medians in the first window after ``--warmup``
  seconds, the end E the median of those in the last window (a window is a
  minute of periods, or a quarter of the periods after warm-up when that is
  fewer); growth = (E - B) / B. A leak, or a step that stays, raises E; an
  excursion that is handed back does not fail the run, but is reported (the
  highest period median and single reading). A first version judged the
  highest period median instead: the 10-minute CPU run of 2026-11-23 then
  failed at 5.0% on one 10-second excursion (444 MiB at t = 335 s, back to
  425 MiB at 345 s and flat to the end, 0.6% above the baseline).
  Medians, not single readings: a reading taken
  while a frame is being segmented includes that frame's transient buffers
  (at 1280x720 the 19 full-size class-score planes alone are 70 MB), and the
  allocator now and then hands memory back and takes it again, so single
  readings jumped between about 424 and 494 MiB with no trend in a 2-minute
  CPU run, in both directions. Needs two samples after warm-up (checked
  before starting).
* **Max output gap <= 1 s**: the longest time without labels arriving
  between the end of the warm-up and the last frame being published; both
  ends count as boundaries, so a node that stops answering at the end fails
  too.
* **Every output's header matches a sent frame**: stamp and ``frame_id``
  equal those of one frame published (the whole run, warm-up included). Sent
  stamps are kept for the last 60 s only (memory stays bounded on long
  runs), so labels arriving more than 60 s after their frame count as
  unmatched too.

``--warmup`` (default: 30 s, or a quarter of ``--duration`` when that is
shorter, e.g. 15 s for a 1-minute run) is left out of the RSS baseline and
the gap criterion: the first frames bring one-off allocations (DDS buffers,
the inference runtime's arenas).

Writes ``soak.md`` (samples and criteria), ``soak.json`` and ``soak.png``
(RSS, output rate and latency over time) to ``--out``. Start-up errors (a
bad weights file, a node that does not come up) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script, only benchmarks/ is on the path
    sys.path.insert(0, str(REPO_ROOT))

from lednet_ros.commands.args import add_engine_arguments, engine_options, run_guarded, size_argument  # noqa: E402
from lednet_ros.data.synthetic import street_scene  # noqa: E402
from lednet_ros.errors import LednetError  # noqa: E402
from lednet_ros.evaluation.report import write_results  # noqa: E402
from lednet_ros.evaluation.stats import percentiles  # noqa: E402
from lednet_ros.msgs.stamps import header_stamp_ns  # noqa: E402
from lednet_ros.ros.node_process import cpu_seconds, engine_parameters, node_command, stop_node_process  # noqa: E402

__all__ = ["Ledger", "Sample", "main", "rss_growth_percent"]

PROG = "benchmarks/soak.py"
RSS_GROWTH_LIMIT_PERCENT = 2.0
RSS_WINDOW_S = 60.0
"""Seconds of sample periods whose median RSS is the baseline (first after warm-up) and the end (last)."""
MAX_GAP_S = 1.0
MATCH_WINDOW_S = 60.0  # sent stamps older than this are forgotten (bounded memory)
STARTUP_TIMEOUT_S = 180.0  # the node exports / warms up its model before it subscribes
SETTLE_S = 2.0  # after the last frame, labels still in flight are collected (for matching only)
SCENES = 4  # distinct frames published in turn (made once: generating 1280x720 scenes takes a while)


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
    """Frames sent and outputs received: header matching, output gaps, latencies (no ROS, so it can be tested).

    Times are seconds on one monotonic clock; stamps are nanoseconds.
    ``warmup_end`` and ``publish_end`` bound the gap measurement (see the
    module docstring).
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
    of them when that is fewer, at least one). Nones when no sample counts.
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
    :meth:`read` is called: once per frame published.
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


def _die_with_parent() -> None:
    """In the node's process before exec: SIGTERM it when this script dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the finally clause still stops the node
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_node(args: argparse.Namespace, namespace: str) -> subprocess.Popen[bytes]:
    node_params, node_env = engine_parameters(engine_options(args))
    command = node_command(f"/{namespace}", None, {
        "diagnostics_period": 0.5, "warmup_image_sizes": [f"{args.size[0]}x{args.size[1]}"], **node_params,
    })  # fmt: skip
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, **node_env, "PYTHONPATH": python_path}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "node.log").open("wb") as log:  # the child keeps its own descriptor
        # Started before rclpy.init(), while this process has one thread (preexec_fn is unsafe with more).
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509  # fmt: skip


def _node_failure(process: subprocess.Popen[bytes], out: Path, what: str) -> LednetError:
    tail = (out / "node.log").read_text(errors="replace").strip().splitlines()[-1:]
    return LednetError(
        f"{what} (status {process.returncode}): {tail[0] if tail else 'no output'}; see {out / 'node.log'}"
    )


def _frames(size: tuple[int, int]) -> list[Any]:
    from sensor_msgs.msg import Image  # noqa: PLC0415

    messages = []
    for seed in range(SCENES):
        image = street_scene(*size, seed=seed).image[..., ::-1].copy()
        message = Image(height=size[1], width=size[0], encoding="bgr8", step=size[0] * 3)
        message.data = array.array("B", image.tobytes())
        messages.append(message)
    return messages


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; returns the report (config, samples, summary, criteria)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    namespace = f"soak_{os.getpid()}"
    process = _start_node(args, namespace)
    try:
        import rclpy  # noqa: PLC0415 (ROS only once the node is started)

        rclpy.init()
        try:
            return _drive(args, namespace, process)
        finally:
            rclpy.try_shutdown()
    finally:
        stop_node_process(process)


def _drive(args: argparse.Namespace, namespace: str, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    import rclpy  # noqa: PLC0415
    from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    node = rclpy.create_node(f"soak_client_{os.getpid()}")
    try:
        ledger = Ledger(warmup_end=float("inf"))  # set once publishing starts
        status: dict[str, str] = {}

        def on_labels(message: Image) -> None:
            stamp = header_stamp_ns(message.header)
            ledger.output_received(stamp, message.header.frame_id, time.monotonic(), (time.time_ns() - stamp) / 1e6)

        def on_diagnostics(message: DiagnosticArray) -> None:
            for entry in message.status:
                if entry.name.endswith(f": /{namespace}/image"):
                    status.clear()
                    status.update({kv.key: kv.value for kv in entry.values})

        publisher = node.create_publisher(Image, f"/{namespace}/image",
                                          QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))  # fmt: skip
        labels = node.create_subscription(Image, f"/{namespace}/segmentation/labels", on_labels,
                                          QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        messages = _frames(args.size)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (publisher.get_subscription_count() and labels.get_publisher_count() and status):
            rclpy.spin_once(node, timeout_sec=0.1)
            if process.poll() is not None:
                raise _node_failure(process, args.out, "the node exited during start-up")
            if time.monotonic() > deadline:
                msg = f"the node did not come up in {STARTUP_TIMEOUT_S:g} s; see {args.out / 'node.log'}"
                raise LednetError(msg)
        settle = time.monotonic() + 0.5  # let the other endpoints finish matching
        while time.monotonic() < settle:
            rclpy.spin_once(node, timeout_sec=0.05)
        device = status.get("device", args.device)

        samples: list[Sample] = []
        device_source = "n/a"
        period, start = 1.0 / args.rate, time.monotonic()
        end = start + args.duration
        ledger.warmup_end = start + args.warmup
        last_stamp = 0
        rss = RssMeter(process.pid)
        cpu_prev, client_prev, t_prev = cpu_seconds(process.pid), time.process_time(), start

        def sample(now: float) -> Sample:
            nonlocal cpu_prev, client_prev, t_prev, device_source
            cpu, client = cpu_seconds(process.pid), time.process_time()
            outputs, latencies = ledger.take_window()
            elapsed = max(now - t_prev, 1e-9)
            device_mib, device_source = device_memory_mib(process.pid, device)
            median, low, high = rss.take()
            reading = Sample(
                round(now - start, 2), round(median, 1), round(low, 1), round(high, 1), device_mib,
                round(100.0 * (cpu - cpu_prev) / elapsed, 1) if now > t_prev else 0.0,
                round(100.0 * (client - client_prev) / elapsed, 1) if now > t_prev else 0.0,
                round(outputs / elapsed, 2) if now > t_prev else 0.0,
                round(percentiles(latencies)[1], 1) if latencies else None,
                ledger.sent, ledger.outputs,
                int(status["received"]) if "received" in status else None,
                int(status["dropped"]) if "dropped" in status else None,
            )  # fmt: skip
            cpu_prev, client_prev, t_prev = cpu, client, now
            return reading

        next_frame = next_sample = start
        bar = tqdm(total=round(args.duration), desc="soak", unit="s", disable=None)
        try:
            while (now := time.monotonic()) < end:
                if now >= next_frame:
                    stamp = max(time.time_ns(), last_stamp + 1)  # strictly increasing, even if the clock steps
                    message = messages[ledger.sent % SCENES]
                    message.header.stamp.sec, message.header.stamp.nanosec = divmod(stamp, 10**9)
                    message.header.frame_id = f"soak_{ledger.sent}"
                    publisher.publish(message)
                    ledger.frame_sent(stamp, message.header.frame_id)
                    last_stamp = stamp
                    rss.read()
                    next_frame += period
                    if next_frame < now:  # fell behind (a slow spin): skip the missed slots rather than burst
                        next_frame = now + period
                if now >= next_sample:
                    samples.append(sample(now))
                    next_sample += args.sample_period
                    last = samples[-1]
                    bar.set_postfix_str(f"RSS {last.rss_mib:.0f} MiB, {last.output_hz:.1f} Hz", refresh=False)
                    bar.update(min(round(args.duration), round(now - start)) - bar.n)
                if process.poll() is not None:
                    raise _node_failure(process, args.out, "the node exited during the soak")
                rclpy.spin_once(node, timeout_sec=max(0.0, min(next_frame, next_sample, end) - time.monotonic()))
            now = time.monotonic()
            ledger.publishing_ended(now)
            samples.append(sample(now))
            bar.update(round(args.duration) - bar.n)
        finally:
            bar.close()
        settle = time.monotonic() + SETTLE_S
        while time.monotonic() < settle:
            rclpy.spin_once(node, timeout_sec=0.05)
        return _report(args, ledger, samples, status, device, device_source, start, now)
    finally:
        node.destroy_node()


def _report(args: argparse.Namespace, ledger: Ledger, samples: list[Sample], status: dict[str, str], device: str,
            device_source: str, start: float, publish_end: float) -> dict[str, Any]:  # fmt: skip
    wall_s = publish_end - start
    baseline, growth_max, growth_last = rss_growth_percent(samples, args.warmup)
    p50, p95, top = percentiles(ledger.latencies_after_warmup)
    measured_s = max(wall_s - args.warmup, 1e-9)
    received = int(status["received"]) if "received" in status else None
    criteria = [
        {"criterion": "RSS growth after warm-up",
         "value": None if growth_last is None else round(growth_last, 2),
         "unit": "%", "limit": f"< {RSS_GROWTH_LIMIT_PERCENT:g}%",
         "passed": growth_last is not None and growth_last < RSS_GROWTH_LIMIT_PERCENT},
        {"criterion": "max output gap after warm-up", "value": round(ledger.max_gap_s, 3), "unit": " s",
         "limit": f"<= {MAX_GAP_S:g} s", "passed": ledger.outputs_after_warmup > 0 and ledger.max_gap_s <= MAX_GAP_S},
        {"criterion": "outputs whose header matches no sent frame", "value": ledger.unmatched, "unit": "",
         "limit": "0", "passed": ledger.unmatched == 0},
    ]  # fmt: skip
    return {
        "config": {
            "duration_s": args.duration,
            "rate_hz": args.rate,
            "size": f"{args.size[0]}x{args.size[1]}",
            "sample_period_s": args.sample_period,
            "warmup_s": args.warmup,
            "device": device,
            "precision": status.get("precision"),
            "weights": status.get("weights"),
            "model_size": None if args.model_size is None else f"{args.model_size[0]}x{args.model_size[1]}",
            "backend": args.backend,
            "device_memory_source": device_source,
        },
        "samples": [asdict(s) for s in samples],
        "summary": {
            "wall_s": round(wall_s, 2),
            "sent": ledger.sent,
            "outputs": ledger.outputs,
            "outputs_after_warmup": ledger.outputs_after_warmup,
            "output_hz_after_warmup": round(ledger.outputs_after_warmup / measured_s, 2),
            "latency_after_warmup_ms": {"p50": round(p50, 1), "p95": round(p95, 1), "max": round(top, 1)},
            "node_received": received,
            "node_dropped": int(status["dropped"]) if "dropped" in status else None,
            "lost_before_node": None if received is None else ledger.sent - received,
            "unmatched_outputs": ledger.unmatched,
            "unmatched_examples": ledger.unmatched_examples,
            "out_of_order_outputs": ledger.out_of_order,
            "max_gap_s": round(ledger.max_gap_s, 3),
            "max_gap_ended_at_s": None if ledger.max_gap_end is None else round(ledger.max_gap_end - start, 2),
            "rss_start_mib": samples[0].rss_mib if samples else None,
            "rss_baseline_mib": baseline,
            "rss_highest_after_warmup_mib": None if baseline is None else round(baseline * (1 + growth_max / 100), 1),
            "rss_last_mib": samples[-1].rss_mib if samples else None,
            "rss_end_mib": None if baseline is None else round(baseline * (1 + growth_last / 100), 1),
            "rss_max_reading_mib": max((s.rss_max_mib for s in samples), default=None),
            "rss_growth_max_percent": None if growth_max is None else round(growth_max, 2),
            "rss_growth_last_percent": None if growth_last is None else round(growth_last, 2),
        },
        "criteria": criteria,
        "passed": all(c["passed"] for c in criteria),
    }


def _figure(value: float | None, fmt: str = ".1f") -> str:
    return "n/a" if value is None else format(value, fmt)


def markdown(report: dict[str, Any]) -> str:
    """Samples, summary and pass criteria as Markdown."""
    c, s = report["config"], report["summary"]
    lines = [
        f"Soak of segmentation_node: {c['size']} bgr8 at {c['rate_hz']:g} Hz for {c['duration_s']:g} s "
        f"(warm-up {c['warmup_s']:g} s), device {c['device']} ({c['precision']}), model {c['model_size'] or 'default'}, "
        f"backend {c['backend']}; device memory: {c['device_memory_source']}.",
        "",
        "RSS: the median (min-max) of the node's RSS, read at every frame of the period ending at t.",
        "",
        "| t s | RSS MiB | (min-max) | device MiB | node CPU % | client CPU % | output Hz | latency p95 ms "
        "| sent | node dropped so far |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['t_s']:.1f}{' (warm-up)' if r['t_s'] < c['warmup_s'] else ''} | {r['rss_mib']:.1f} | "
        f"{r['rss_min_mib']:.0f}-{r['rss_max_mib']:.0f} | {_figure(r['device_mib'], '.0f')} | {r['node_cpu_percent']:.0f} | "
        f"{r['client_cpu_percent']:.0f} | {r['output_hz']:.2f} | "
        f"{_figure(r['latency_p95_ms'])} | {r['sent']} | {_figure(r['node_dropped'], 'd')} |"
        for r in report["samples"]
    ]
    latency = s["latency_after_warmup_ms"]
    lines += [
        "",
        f"After warm-up: {s['outputs_after_warmup']} outputs, {s['output_hz_after_warmup']:.2f} Hz, latency p50 "
        f"{latency['p50']} ms, p95 {latency['p95']} ms, max {latency['max']} ms. Whole run: {s['sent']} frames sent, "
        f"{s['outputs']} outputs, {_figure(s['node_received'], 'd')} frames reached the node, "
        f"{_figure(s['node_dropped'], 'd')} dropped by it (newest frame wins), "
        f"{_figure(s['lost_before_node'], 'd')} lost before it (best-effort transport), "
        f"{s['out_of_order_outputs']} outputs out of stamp order. Longest output gap after warm-up: "
        f"{s['max_gap_s']:.2f} s, ending at t = {_figure(s['max_gap_ended_at_s'])} s.",
        f"RSS (period medians): {_figure(s['rss_start_mib'])} MiB at the start, baseline "
        f"{_figure(s['rss_baseline_mib'])} MiB after warm-up, {_figure(s['rss_end_mib'])} MiB at the end "
        f"(growth {_figure(s['rss_growth_last_percent'], '.2f')}%), highest period "
        f"{_figure(s['rss_highest_after_warmup_mib'])} MiB ({_figure(s['rss_growth_max_percent'], '.2f')}%), last "
        f"{_figure(s['rss_last_mib'])} MiB; "
        f"highest single reading {_figure(s['rss_max_reading_mib'])} MiB.",
        "",
        "| criterion | value | limit | result |",
        "| --- | ---: | --- | --- |",
    ]
    lines += [
        f"| {k['criterion']} | {_figure(k['value'], 'g')}{k['unit']} | {k['limit']} | {'PASS' if k['passed'] else 'FAIL'} |"
        for k in report["criteria"]
    ]
    lines += ["", f"Overall: {'PASS' if report['passed'] else 'FAIL'}"]
    return "\n".join(lines)


def write_png(report: dict[str, Any], path: Path) -> Path:
    """RSS (and device memory), output rate and latency p95 over time, warm-up shaded."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows, warmup = report["samples"], report["config"]["warmup_s"]
    t = [r["t_s"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), dpi=100, sharex=True)
    axes[0].fill_between(t, [r["rss_min_mib"] for r in rows], [r["rss_max_mib"] for r in rows], color="tab:blue",
                         alpha=0.15, label="node RSS min-max")  # fmt: skip
    axes[0].plot(t, [r["rss_mib"] for r in rows], ".-", label="node RSS median")
    if report["summary"]["rss_baseline_mib"] is not None:
        limit = report["summary"]["rss_baseline_mib"] * (1 + RSS_GROWTH_LIMIT_PERCENT / 100)
        axes[0].axhline(limit, color="tab:red", linestyle="--", linewidth=0.8, label="baseline + 2%")
    axes[0].set_ylabel("RSS (MiB)")
    if any(r["device_mib"] is not None for r in rows):
        twin = axes[0].twinx()
        twin.plot(t, [r["device_mib"] for r in rows], ".-", color="tab:green", label="device memory")
        twin.set_ylabel("device memory (MiB)")
        twin.legend(loc="lower right")
    axes[0].legend(loc="upper left")
    axes[1].plot(t, [r["output_hz"] for r in rows], ".-", color="tab:orange")
    axes[1].set_ylabel("output (Hz)")
    axes[2].plot(t, [r["latency_p95_ms"] for r in rows], ".-", color="tab:purple")
    axes[2].set_ylabel("latency p95 (ms)")
    axes[2].set_xlabel("time since the first frame (s)")
    for axis in axes:
        axis.axvspan(0, warmup, color="0.9", zorder=0)
        axis.grid(alpha=0.3)
    axes[0].set_title(f"soak: {'PASS' if report['passed'] else 'FAIL'} (grey: warm-up)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def positive_float(text: str) -> float:
    """Parse a number above 0 for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        msg = f"expected a number above 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line (shared model options included, so ``--device cuda`` works)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Soak the segmentation node: frames at a fixed rate for a long time; RSS, device memory, "
        "output rate, latency and drops over time; PASS/FAIL criteria (exit 0 only if all pass).",
    )
    parser.add_argument("--duration", type=positive_float, default=600.0, help="seconds of publishing (default: 600)")
    parser.add_argument("--rate", type=positive_float, default=30.0, help="publish rate in Hz (default: 30)")
    parser.add_argument("--size", type=size_argument, default=(1280, 720), metavar="WxH", help="frame size (default: 1280x720)")  # fmt: skip
    parser.add_argument("--sample-period", type=positive_float, default=5.0, metavar="S",
                        help="seconds between samples of RSS, device memory, rate, latency, drops (default: 5)")  # fmt: skip
    parser.add_argument("--warmup", type=float, metavar="S",
                        help="seconds left out of the RSS baseline and the gap criterion "
                             "(default: 30, or a quarter of --duration when that is shorter)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("out/soak"), metavar="DIR", help="default: out/soak")
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every criterion passes, 1 when one fails or the node cannot start, 2 for bad options."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = min(30.0, args.duration / 4)
    if not 0 <= args.warmup < args.duration:
        parser.error("--warmup must be at least 0 and shorter than --duration")
    if args.duration - args.warmup < 2 * args.sample_period:
        parser.error("the RSS criterion needs two samples after warm-up: duration - warmup >= 2 x --sample-period")

    def body() -> int:
        if threading.current_thread() is threading.main_thread():  # SIGTERM stops the node too, like Ctrl-C
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        report = soak(args)
        table = markdown(report)
        command = "python benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
        print(table)
        md, js = write_results(args.out, "soak", command, table, report)
        png = write_png(report, args.out / "soak.png")
        print(f"wrote {md}, {js} and {png}")
        return 0 if report["passed"] else 1

    return run_guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
