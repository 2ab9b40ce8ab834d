"""The tools skip and count what the node would reject, before decoding it (issue 17, items 11-13).

Before, one 16384 x 16384 PNG in a bag ended ``evaluate`` with rc 1 after a 20 GB allocation
attempt, and ``segment`` spent 4.2 GB on the same file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from bombs import png_bomb
from rosbags.typesys import Stores, get_typestore

from lednet_ros.data.bags import BagWriter
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.offline import PAIRING_KEEP, run
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.inference.files import segment_files
from lednet_ros.limits import DEFAULT_MAX_PIXELS
from lednet_ros.model.classes import load_class_config

CLASSES = load_class_config()
TYPES = get_typestore(Stores.ROS2_JAZZY)
COMPRESSED = "sensor_msgs/msg/CompressedImage"


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb(16384, 16384)


def write_compressed(bag: BagWriter, topic: str, payload: bytes, stamp: int) -> None:
    header = TYPES.types["std_msgs/msg/Header"](
        stamp=TYPES.types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"
    )
    message = TYPES.types[COMPRESSED](header=header, format="png", data=np.frombuffer(payload, np.uint8))
    bag.write_serialized(topic, COMPRESSED, TYPES.serialize_cdr(message, COMPRESSED), stamp)


def bag_with_a_bomb(path: Path, bomb: bytes) -> None:
    """Three good frames with labels, and one bomb (with a label) between them, on compressed topics."""
    with BagWriter(path, "sqlite3") as bag:
        for i in range(4):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            scene = street_scene(64, 32, seed=i)
            ok, good = cv2.imencode(".png", scene.labels)
            assert ok
            write_compressed(bag, "/cam/predicted", bomb if i == 2 else good.tobytes(), stamp)
            bag.write_image("/cam/labels", scene.labels, "mono8", stamp, "cam")


def test_evaluate_skips_and_counts_a_bomb_before_decoding_it(tmp_path: Path, bomb: bytes) -> None:
    bag_with_a_bomb(tmp_path / "bag", bomb)
    started = time.monotonic()
    result = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted",
                 progress=False)  # fmt: skip
    assert time.monotonic() - started < 10
    assert (result.frames, result.rejected_frames, result.corrupt_messages) == (3, 1, 0)
    assert (result.unpaired_images, result.unpaired_labels) == (0, 1)  # the bomb's label found no partner


def test_the_evaluate_command_takes_max_input_pixels_and_reports_the_skipped_frame(tmp_path: Path,
                                                                                     bomb: bytes) -> None:  # fmt: skip
    bag_with_a_bomb(tmp_path / "bag", bomb)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lednet_ros", "evaluate", str(tmp_path / "bag"), "--label-topic", "/cam/labels",
               "--predictions-topic", "/cam/predicted", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert (report["frames"], report["rejected_frames"]) == (3, 1)
    # A smaller limit skips the 64x32 frames and labels too: nothing left to score is the one error.
    small = subprocess.run([*command, "--max-input-pixels", "1000"], capture_output=True, text=True, timeout=120,
                           check=False)  # fmt: skip
    assert small.returncode == 1 and "Traceback" not in small.stderr
    assert json.loads((out / "report.json").read_text())["rejected_frames"] == 8  # 4 predictions, 4 labels


def test_segment_lists_a_bomb_as_failed_and_segments_the_rest(tmp_path: Path, bomb: bytes, checkpoint) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(bomb)
    cv2.imwrite(str(folder / "good.png"), street_scene(64, 32, seed=1).image)
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="torch")
    started = time.monotonic()
    result = segment_files(engine, [folder], tmp_path / "out", max_pixels=DEFAULT_MAX_PIXELS)
    assert time.monotonic() - started < 10
    assert [Path(str(o["input"])).name for o in result.outputs] == ["good.png"]
    assert len(result.failed) == 1 and "more than max_input_pixels" in result.failed[0]["error"]


def test_evaluate_holds_at_most_the_pairing_window_of_unpaired_images(tmp_path: Path) -> None:
    """150 images that never pair (item 13): memory follows the pairing window, not the bag's length."""
    frame = street_scene(320, 240, seed=3).image
    frames = 150
    with BagWriter(tmp_path / "bag", "sqlite3") as bag:
        for i in range(frames):
            bag.write_image("/cam/image", frame, "rgb8", 1_700_000_000_000_000_000 + i * 100_000_000, "cam")
        bag.write_image("/cam/labels", np.zeros((240, 320), np.uint8), "mono8", 1_900_000_000_000_000_000, "cam")
    tracemalloc.start()
    try:
        result = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/image",
                     progress=False)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.frames, result.unpaired_images, result.unpaired_labels) == (0, frames, 1)
    frame_bytes = frame.nbytes
    print(f"unpaired: peak {peak / 2**20:.1f} MiB for {frames} frames of {frame_bytes / 2**20:.2f} MiB")
    assert peak < (PAIRING_KEEP + 24) * frame_bytes, f"peak {peak / 2**20:.1f} MiB"
    assert peak < 0.75 * frames * frame_bytes


def test_the_tools_take_max_input_pixels_and_replay_passes_it_on(tmp_path: Path) -> None:
    from lednet_ros.commands import evaluate, replay, segment

    for module, argv in ((evaluate, ["bag"]), (segment, ["x.png"]), (replay, ["bag"])):
        assert module.build_parser().parse_args(argv).max_input_pixels == DEFAULT_MAX_PIXELS
        assert module.build_parser().parse_args([*argv, "--max-input-pixels", "1000"]).max_input_pixels == 1000
    options = replay.replay_options(replay.build_parser().parse_args([str(tmp_path), "--max-input-pixels", "99"]))
    assert options.max_input_pixels == 99
