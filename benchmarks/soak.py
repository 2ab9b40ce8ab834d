#!/usr/bin/env python3
"""Soak test of ``segmentation_node``: hours of a camera's traffic, compressed into minutes.

Run from the repository root::

    python benchmarks/soak.py [--duration 600] [--rate 30] [--size 1280x720] [--device cuda] ...

The script puts the repository root and its own folder on ``sys.path``
(``python benchmarks/soak.py`` only adds ``benchmarks/``; a test that loads
it from its path adds neither), so it measures the checkout's ``lednet_ros``
whether or not the package is installed, and it passes the same root to the
node's process through ``PYTHONPATH``. Its parts: ``soak_ledger.py`` (the
bookkeeping, no ROS), ``soak_node.py`` (the node's process and the client
that feeds it), ``soak_report.py`` (criteria, Markdown, plot).

What it does: starts the node in its own process (output in
``OUT/node.log``), publishes ``bgr8`` frames at ``--rate`` Hz for
``--duration`` seconds (best effort, like a camera driver), each with its
own, strictly increasing header stamp and its own ``frame_id``
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
  highest period median and single reading). Medians, not single readings:
  a reading taken while a frame is being segmented includes that frame's
  transient buffers (at 1280x720 the 19 full-size class-score planes alone
  are 70 MB), and the allocator now and then hands memory back and takes it
  again. Needs two samples after warm-up (checked before starting).
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
import signal
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
for _folder in (REPO_ROOT, HERE):  # the checkout's lednet_ros, and the soak's other modules
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from soak_ledger import Ledger, RssMeter, Sample, SoakSettings, rss_growth_percent  # noqa: E402
from soak_node import run_soak  # noqa: E402
from soak_report import build_report, markdown, write_png  # noqa: E402

from lednet_ros.commands.args import add_engine_arguments, engine_options, run_guarded, size_argument  # noqa: E402
from lednet_ros.evaluation.report import write_results  # noqa: E402

__all__ = ["Ledger", "RssMeter", "Sample", "SoakSettings", "build_parser", "main", "rss_growth_percent"]

PROG = "benchmarks/soak.py"
DEFAULTS = SoakSettings()


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
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Soak the segmentation node: frames at a fixed rate for a long time; RSS, device memory, "
        "output rate, latency and drops over time; PASS/FAIL criteria (exit 0 only if all pass).",
    )
    parser.add_argument("--duration", type=positive_float, default=d.duration_s,
                        help=f"seconds of publishing (default: {d.duration_s:g})")  # fmt: skip
    parser.add_argument("--rate", type=positive_float, default=d.rate_hz,
                        help=f"publish rate in Hz (default: {d.rate_hz:g})")  # fmt: skip
    parser.add_argument("--size", type=size_argument, default=d.size, metavar="WxH",
                        help=f"frame size (default: {d.size[0]}x{d.size[1]})")  # fmt: skip
    parser.add_argument("--sample-period", type=positive_float, default=d.sample_period_s, metavar="S",
                        help="seconds between samples of RSS, device memory, rate, latency, drops "
                             f"(default: {d.sample_period_s:g})")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=d.warmup_s, metavar="S",
                        help="seconds left out of the RSS baseline and the gap criterion "
                             f"(default: {d.default_warmup(sys.float_info.max):g}, "
                             "or a quarter of --duration when that is shorter)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=d.out, metavar="DIR", help=f"default: {d.out}")
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every criterion passes, 1 when one fails or the node cannot start, 2 for bad options."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = SoakSettings(duration_s=args.duration, rate_hz=args.rate, size=args.size,
                            sample_period_s=args.sample_period, warmup_s=args.warmup, out=args.out)  # fmt: skip
    if not 0 <= settings.warmup < settings.duration_s:
        parser.error("--warmup must be at least 0 and shorter than --duration")
    if settings.duration_s - settings.warmup < 2 * settings.sample_period_s:
        parser.error("the RSS criterion needs two samples after warm-up: duration - warmup >= 2 x --sample-period")
    options = engine_options(args)

    def body() -> int:
        if threading.current_thread() is threading.main_thread():  # SIGTERM stops the node too, like Ctrl-C
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        report = build_report(settings, options, run_soak(settings, options))
        table = markdown(report)
        command = "python benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
        print(table)
        md, js = write_results(settings.out, "soak", command, table, report)
        png = write_png(report, settings.out / "soak.png")
        print(f"wrote {md}, {js} and {png}")
        return 0 if report["passed"] else 1

    return run_guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
