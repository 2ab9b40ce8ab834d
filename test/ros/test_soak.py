"""``benchmarks/soak.py``: its bookkeeping (``soak_ledger.py``), and the 1-minute soak of the node that the test suite runs.

The soak runs the script as a user does (``python benchmarks/soak.py`` from
the repository root) in its own process, on a DDS domain of its own with
discovery kept on this machine. It is marked ``soak`` (and ``slow``):
``pytest -m "not soak"`` leaves it out.
"""

from __future__ import annotations

import importlib.util
import json
import mmap
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "soak.py"


def load_soak() -> ModuleType:
    """``benchmarks/`` is not a package: import the script from its path."""
    module = sys.modules.get("soak_script")
    if module is None:
        spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["soak_script"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return module


def test_ledger_matches_stamp_and_frame_id_and_forgets_old_frames() -> None:
    soak = load_soak()
    ledger = soak.Ledger(warmup_end=0.0, match_window_ns=10_000)
    for stamp in (1_000, 2_000, 3_000):
        ledger.frame_sent(stamp, f"soak_{stamp}")
    ledger.output_received(2_000, "soak_2000", 1.0, 5.0)
    ledger.output_received(3_000, "soak_2000", 1.1, 5.0)  # right stamp, another frame's id
    ledger.output_received(3_500, "soak_3500", 1.2, 5.0)  # never sent
    assert (ledger.outputs, ledger.unmatched) == (3, 2)
    ledger.frame_sent(12_500, "soak_12500")  # 1_000 and 2_000 fall out of the 10 us window
    ledger.output_received(1_000, "soak_1000", 1.3, 5.0)
    ledger.output_received(12_500, "soak_12500", 1.4, 5.0)
    assert ledger.unmatched == 3 and ledger.out_of_order == 1
    assert len(ledger.unmatched_examples) == 3


def test_ledger_gap_counts_from_warmup_end_to_publishing_end() -> None:
    soak = load_soak()
    ledger = soak.Ledger(warmup_end=10.0)
    for stamp, now in enumerate((5.0, 10.4, 11.0, 12.6), start=1):
        ledger.frame_sent(stamp, "f")
        ledger.output_received(stamp, "f", now, 1.0)
    assert ledger.max_gap_s == pytest.approx(1.6) and ledger.outputs_after_warmup == 3
    ledger.publishing_ended(14.8)  # 2.2 s of silence at the end counts as a gap too
    ledger.output_received(5, "f", 15.0, 1.0)  # in flight after the end: matched, not in the gap
    assert ledger.max_gap_s == pytest.approx(2.2) and ledger.outputs_after_warmup == 3
    assert ledger.take_window()[0] == 5 and ledger.take_window() == (0, [])


def test_rss_growth_is_measured_on_period_medians_from_the_first_period_after_warmup_to_the_end() -> None:
    soak = load_soak()

    def sample(t: float, median: float) -> object:
        return soak.Sample(t, median, median - 20.0, median + 70.0, None, 0.0, 0.0, 0.0, None, 0, 0, None, None)

    # Periods: (0, 5] in warm-up, (5, 10] is the first one wholly after a 5 s warm-up.
    samples = [sample(0, 100.0), sample(5, 150.0), sample(10, 200.0), sample(15, 210.0), sample(20, 204.0)]
    baseline, to_max, to_last = soak.rss_growth_percent(samples, 5.0)
    assert baseline == 200.0 and to_max == pytest.approx(5.0) and to_last == pytest.approx(2.0)
    assert soak.rss_growth_percent(samples, 20.0) == (None, None, None)
    # Ten minutes of 5 s periods: a one-off excursion that is handed back is not growth; a slow leak is.
    flat = [sample(5.0 * i, 425.0 + (20.0 if 60 <= i <= 61 else 0.0)) for i in range(121)]
    baseline, to_max, to_end = soak.rss_growth_percent(flat, 30.0)
    assert baseline == 425.0 and to_max == pytest.approx(100 * 20 / 425) and to_end == 0.0
    leak = [sample(5.0 * i, 425.0 + 0.1 * i) for i in range(121)]  # 12 MiB over ten minutes
    baseline, _, to_end = soak.rss_growth_percent(leak, 30.0)
    assert baseline == pytest.approx(425.0 + 0.1 * 12.5)  # periods 7-18: the first minute after warm-up
    assert to_end == pytest.approx(100 * 0.1 * (114.5 - 12.5) / baseline) and to_end > 2.0


def test_rss_meter_keeps_the_median_lowest_and_highest_reading_of_each_period() -> None:
    meter = load_soak().RssMeter(os.getpid())
    # A fresh anonymous mapping, not a bytearray: malloc may serve a large bytearray from memory that is already
    # resident (freed earlier in this long test process, not trimmed), which then neither adds nor gives back RSS.
    ballast = mmap.mmap(-1, 64 * 2**20)
    for offset in range(0, len(ballast), mmap.PAGESIZE):  # touched: resident
        ballast[offset] = 1
    meter.read()
    meter.read()
    ballast.close()  # unmapped: gone from RSS
    median, low, high = meter.take()
    assert high - low > 32 and high - median < 1  # MiB; two of the three readings held the ballast
    median, low, high = meter.take()  # one reading: a period starts afresh
    assert median == low == high


def test_options_that_leave_no_rss_baseline_are_refused() -> None:
    result = subprocess.run([sys.executable, "benchmarks/soak.py", "--duration", "10", "--sample-period", "5"],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2 and "two samples after warm-up" in result.stderr


@pytest.mark.soak
@pytest.mark.slow
def test_one_minute_soak_meets_the_pass_criteria(tmp_path: Path) -> None:
    """The issue's criteria on a cheap configuration: 640x360 at 30 Hz into a 512x256 model for 60 s.

    On a CPU the node answers at a few Hz and drops the rest (newest frame
    wins), which is expected; the gap, header and RSS criteria must hold all
    the same. The device is left at ``auto`` so that a CUDA machine soaks
    the GPU path. The warm-up is the soak's default 30 s: a fresh node's
    allocator keeps settling for about half a minute (RSS rising, then flat
    to the end), and a shorter warm-up would count that as growth.
    """
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.SystemRandom().randint(1, 101)),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}  # fmt: skip
    command = [sys.executable, "benchmarks/soak.py", "--duration", "60", "--rate", "30", "--size", "640x360",
               "--model-size", "512x256", "--sample-period", "3", "--warmup", "30", "--out", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=400, env=env, check=False)
    log = (tmp_path / "node.log").read_text(errors="replace") if (tmp_path / "node.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log

    report = json.loads((tmp_path / "soak.json").read_text())
    samples, summary = report["samples"], report["summary"]
    assert len(samples) >= 60 // 3
    assert all(0 < s["rss_min_mib"] <= s["rss_mib"] <= s["rss_max_mib"] for s in samples)
    assert summary["rss_baseline_mib"] > 0 and summary["rss_growth_max_percent"] is not None
    assert {c["criterion"]: c["passed"] for c in report["criteria"]} == {
        "RSS growth after warm-up": True,
        "max output gap after warm-up": True,
        "outputs whose header matches no sent frame": True,
    }
    assert report["passed"] is True
    assert summary["outputs"] > 0 and summary["outputs_after_warmup"] > 0
    assert summary["unmatched_outputs"] == 0
    assert summary["sent"] >= 60 * 30 * 0.8  # the publisher kept (about) its rate
    assert "Overall: PASS" in result.stdout
    assert (tmp_path / "soak.md").read_text().count("| PASS |") == 3
    assert (tmp_path / "soak.png").stat().st_size > 0
