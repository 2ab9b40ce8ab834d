"""Small fleets for the fleet tests: generated drive bags, and the ways bags break in an archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from lednet_ros.data.bags import BagWriter
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import save_checkpoint

SIZE = (64, 32)
MODEL = ["--model-size", "64x32", "--precision", "fp32", "--threads", "1", "--backend", "onnxruntime"]
"""The same engine on both sides of every comparison: fp32, one thread, batch 1."""
REPO = Path(__file__).resolve().parents[2]


def write_bag(path: Path, frames: int, *, seed: int = 0, cameras: tuple[str, ...] = ("/front",), labels: bool = True,
              storage: str = "sqlite3", size: tuple[int, int] = SIZE, big_frame: bool = False) -> Path:  # fmt: skip
    """A drive: per camera ``CAM/image_raw`` (bgr8) and ``CAM/labels`` (mono8 train ids) with equal stamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with BagWriter(path, storage) as bag:
        for i in range(frames):
            stamp = 1_700_000_000_000_000_000 + seed * 10**12 + i * 100_000_000
            for k, camera in enumerate(cameras):
                scene = street_scene(*size, seed=frame_seed(seed * 10 + k, i))
                bag.write_image(f"{camera}/image_raw", scene.image[..., ::-1], "bgr8", stamp, camera)
                if labels:
                    bag.write_image(f"{camera}/labels", scene.labels, "mono8", stamp, camera)
        if big_frame:  # over --max-input-pixels in the tests: skipped and counted
            stamp = 1_700_000_000_000_000_000 + seed * 10**12 + frames * 100_000_000
            bag.write_image(f"{cameras[0]}/image_raw", np.zeros((96, 192, 3), np.uint8), "rgb8", stamp, "big")
    return path


def weights_file(checkpoint: object, folder: Path) -> Path:
    """The randomised test checkpoint as a file, as the command line takes it."""
    path = folder / "weights.pt"
    if not path.exists():
        save_checkpoint(path, checkpoint.build_model(), checkpoint.meta)  # type: ignore[attr-defined]
    return path


def cli(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m lednet_ros ARGS`` in a process of its own (Ray starts and stops its cluster there)."""
    return subprocess.run(
        [sys.executable, "-m", "lednet_ros", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})}, check=False,
    )  # fmt: skip


def build_fleet(base: Path, checkpoint: object) -> Path:
    """The tests' fleet, built once per session under ``base``: good bags, one without labels, broken ones.

    ``day1/long`` lasts long enough (tenths of a second) for a test to kill the worker running it.
    """
    root = base / "fleet"
    if (root / "ready").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    weights_file(checkpoint, root)
    write_bag(root / "bags/day1/a", 3, seed=1, cameras=("/front", "/rear"))
    write_bag(root / "bags/day1/b", 4, seed=2, storage="mcap")
    write_bag(root / "bags/day1/long", LONG_FRAMES, seed=7, size=(128, 64))
    write_bag(root / "bags/day2/unlabelled", 2, seed=3, labels=False)
    write_bag(root / "bags/day2/big", 2, seed=4, big_frame=True)
    write_bag(root / "bags/day2/truncated", 6, seed=5)
    db = next((root / "bags/day2/truncated").glob("*.db3"))
    db.write_bytes(db.read_bytes()[:6000])
    write_bag(root / "bags/day2/broken", 2, seed=6)
    (root / "bags/day2/broken/metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    (root / "ready").touch()
    return root


LONG_FRAMES = 30
FLEET_FRAMES = 3 + 3 + 4 + LONG_FRAMES + 2
"""Frames the fleet scores: a's two cameras, b, long, and big's two (its oversized frame skipped)."""


def fleet_args(root: Path, out: Path, *extra: str) -> list[str]:
    """``evaluate`` of the whole fleet, both cameras, small frame limit (big's big frame is skipped)."""
    return [str(root / "bags"), "--image-topic", "/front/image_raw", "--label-topic", "/front/labels",
            "--image-topic", "/rear/image_raw", "--label-topic", "/rear/labels", "--weights",
            str(root / "weights.pt"), "--max-input-pixels", "9000", *MODEL, "--out", str(out), *extra]  # fmt: skip


def evaluate_in_process(root: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """``lednet-ros evaluate`` of the fleet in this process: exit status and report."""
    from lednet_ros.commands.evaluate import main

    status = main(fleet_args(root, out, *extra))
    return status, json.loads((out / "report.json").read_text())


def expected_report(root: Path) -> dict:
    """The in-process report of the fleet, computed once per session (test_fleet_local checks it)."""
    out = root / "expected"
    if not (out / "report.json").exists():
        evaluate_in_process(root, out)
    return json.loads((out / "report.json").read_text())
