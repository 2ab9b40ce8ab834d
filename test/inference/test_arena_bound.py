"""After a burst of large frames the engine's memory returns to its warmed-up size (issue 17, item 5).

Before, ONNX Runtime's shared arena kept the head's peak for good: +850 MiB after 1920x1080 frames
and +3.9 GB after 3840x2160 ones. Now outputs beyond 1 MP and beyond the warmed-up sizes take
PyTorch's steps, which hand their memory back. The bound is the issue's: 300 MiB over the warmed-up RSS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lednet_ros.inference.engine import SegmentationEngine

BOUND_MIB = 300


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_a_burst_of_1080p_frames_leaves_rss_within_the_bound(checkpoint, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime")
    engine.warm_up([(640, 480)])
    warmed = rss_mib()
    image = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), np.uint8)
    for _ in range(3):
        engine.infer(image, confidence=True)
    grown = rss_mib() - warmed
    print(f"RSS after three 1920x1080 frames: {grown:+.0f} MiB over the warmed-up {warmed:.0f} MiB")
    assert grown < BOUND_MIB, f"RSS grew by {grown:.0f} MiB"


def test_a_warmed_up_camera_size_keeps_onnx_runtime_s_faster_head(checkpoint, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime")
    engine.warm_up([(1600, 900)])
    heads = len(engine._heads)
    assert heads == 2  # with and without confidence, at the warmed-up size
    engine.infer(np.zeros((900, 1600, 3), np.uint8), confidence=True)
    assert len(engine._heads) == heads
    engine.infer(np.zeros((1000, 1700, 3), np.uint8), confidence=True)
    assert len(engine._heads) == heads
