"""The ``lednet-ros`` command as a user runs it: a separate process, exit codes, files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import randomized_checkpoint

from lednet_ros.commands.main import COMMANDS
from lednet_ros.cpu import cpu_info
from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


def lednet_ros(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lednet_ros", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(2)
    path = tmp_path_factory.mktemp("weights") / "test_weights.pt"
    return save_checkpoint(path, checkpoint.build_model(), checkpoint.meta)


def test_top_level_help_lists_every_command() -> None:
    result = lednet_ros("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    result = lednet_ros(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"lednet-ros {command}" in result.stdout


def test_unknown_command_and_bad_option_exit_2() -> None:
    assert lednet_ros("frobnicate").returncode == 2
    result = lednet_ros("segment", "x.png", "--model-size", "big")
    assert result.returncode == 2
    assert "expected WIDTHxHEIGHT" in result.stderr


def test_segment_writes_pngs_equal_to_the_engine(tmp_path: Path, weights: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "cam_a").mkdir(parents=True)
    (inputs / "cam_b").mkdir()
    frames = {}
    for folder, seed in [("cam_a", 1), ("cam_b", 2)]:
        frame = street_scene(160, 96, seed=seed)
        cv2.imwrite(str(inputs / folder / "frame_0001.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        frames[folder] = frame.image
    out = tmp_path / "out"
    result = lednet_ros("segment", str(inputs), "--out", str(out), "--weights", str(weights), "--model-size", "128x64")
    assert result.returncode == 0, result.stderr
    engine = SegmentationEngine(weights, device="cpu", model_size=(128, 64))
    for folder, image in frames.items():
        labels = cv2.imread(str(out / folder / "frame_0001_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.shape == (96, 160)
        expected = engine.infer(image, color=True)
        assert np.array_equal(labels, expected.labels)
        color = cv2.cvtColor(cv2.imread(str(out / folder / "frame_0001_color.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(color, expected.color)
        assert (out / folder / "frame_0001_overlay.png").is_file()
    summary = json.loads((out / "segment.json").read_text())
    assert len(summary["images"]) == 2 and summary["failed"] == []
    assert "test_weights.pt" in summary["weights"]


def test_segment_skips_an_unreadable_image_and_says_so(tmp_path: Path, weights: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "in" / "good.png"), street_scene(64, 32, seed=0).image)
    result = lednet_ros("segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--weights", str(weights))
    assert result.returncode == 1
    assert (tmp_path / "out" / "good_labels.png").is_file()
    summary = json.loads((tmp_path / "out" / "segment.json").read_text())
    assert summary["failed"][0]["input"].endswith("broken.png")


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda p: None, "weights file not found"),
        (lambda p: p.write_bytes(b"\x00" * 100), "not a readable PyTorch weights file"),
        (lambda p: torch.save({"fc.weight": torch.zeros(1)}, p), "not a LEDNet checkpoint"),
    ],
)
def test_bad_weights_give_one_error_line_and_exit_1(tmp_path: Path, make_file, message: str) -> None:
    path = tmp_path / "w.pt"
    make_file(path)
    result = lednet_ros("demo", "--out", str(tmp_path / "out"), "--weights", str(path))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lednet-ros demo: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_unavailable_device_is_one_error_line(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the error on a machine without CUDA")
    result = lednet_ros("demo", "--out", str(tmp_path), "--device", "cuda:0")
    assert result.returncode == 1
    assert "CUDA is not available" in result.stderr and "Traceback" not in result.stderr


def test_demo_writes_images_and_a_report_naming_the_weights(tmp_path: Path, weights: Path) -> None:
    result = lednet_ros("demo", "--out", str(tmp_path), "--size", "256x128", "--model-size", "256x128", "--no-replay")
    assert result.returncode == 0, result.stderr
    for name in ["demo_input", "demo_ground_truth", "demo_labels", "demo_color", "demo_overlay"]:
        image = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape[:2] == (128, 256), name
    report = (tmp_path / "demo.md").read_text()
    assert "weights:" in report and "pixel accuracy" in report
    if "untrained" in result.stdout:
        assert "UNTRAINED" in result.stdout and "untrained" in report
    result = lednet_ros(
        "demo", "--out", str(tmp_path / "w"), "--size", "64x32", "--weights", str(weights), "--no-replay"
    )
    assert result.returncode == 0 and "test_weights.pt" in result.stdout


def test_demo_replays_a_generated_drive_through_the_node(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(random.SystemRandom().randint(201, 230)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    result = lednet_ros("demo", "--out", str(tmp_path), "--size", "64x32", "--weights", str(weights),
                        "--model-size", "64x32", "--drive-frames", "6", "--drive-size", "96x48", "--device", "cpu",
                        "--no-cuda-graphs")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "replay" / "report.json").read_text())
    # The demo's own engine options reach the node it starts, read back from the node's parameters.
    parameters = report["node_parameters"]
    assert parameters["cuda_graphs"] is False and parameters["compile_network"] is False
    assert (parameters["device"], parameters["model_width"], parameters["model_height"]) == ("cpu", 64, 32)
    assert parameters["weights"] == str(weights.resolve())
    assert report["replay"]["frames_sent"] == 6 and report["replay"]["outputs_received"] >= 1
    assert report["frames"] == report["replay"]["outputs_received"]
    assert (
        f"came back at {report['replay']['output_hz']} Hz" in result.stdout
        and "mIoU of the node's output" in result.stdout
    )
    assert (tmp_path / "drive" / "bag" / "metadata.yaml").is_file()
    for name in ["overlay.gif", "report.md", "latency.png", "samples.png"]:
        assert (tmp_path / "replay" / name).stat().st_size > 0
        assert str(tmp_path / "replay" / name) in result.stdout


def test_bench_writes_markdown_and_json(tmp_path: Path, weights: Path) -> None:
    result = lednet_ros(
        "bench",
        "--sizes",
        "64x32",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--weights",
        str(weights),
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "bench.json").read_text())
    variants = {row["variant"] for row in data["rows"]}
    from lednet_ros.inference.backends import available_backends, resolve_backend
    from lednet_ros.inference.device import BF16_BACKENDS, resolve_precision

    cpu = torch.device("cpu")
    auto = resolve_backend("auto", cpu, "auto")
    expected = {"eager fp32", f"engine end-to-end: auto = {auto} ({resolve_precision('auto', cpu, auto)})"}
    expected |= {f"engine model: {name} (fp32)" for name in available_backends()}
    if cpu_info().native_bf16:  # a row per precision each backend runs on this CPU
        expected |= {f"engine model: {name} (bf16)" for name in available_backends() if name in BF16_BACKENDS}
    assert variants == expected
    assert data["environment"]["cpu_flags"] == cpu_info().reported_flags()
    assert all(row["p50_ms"] > 0 and row["width"] == 64 for row in data["rows"])
    assert next(r for r in data["rows"] if r["variant"] == "eager fp32")["speedup_vs_eager"] == 1.0
    assert "| 64x32 |" in (tmp_path / "bench.md").read_text()


def test_info_reports_parameters_and_format(weights: Path) -> None:
    result = lednet_ros("info", "--weights", str(weights), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["parameters"] == 922_821
    assert info["format"] == "lednet_ros"
    assert info["meta"]["classes"]["classes"][0]["name"] == "road"
    assert info["cpu_native_bf16"] == cpu_info().native_bf16 and set(info["cpu_flags"]) <= cpu_info().flags


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--alpha", "1.5"], "expected a number from 0 to 1"),
        (["demo", "--threads", "0"], "at least 1"),
        (["bench", "--threads", "-2"], "at least 1"),
        (["segment", "x.png", "--alpha", "nan"], "expected a number from 0 to 1"),
    ],
)
def test_out_of_range_options_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = lednet_ros(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unwritable_output_is_one_error_line(tmp_path: Path, weights: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = lednet_ros("demo", "--out", str(blocker / "out"), "--size", "64x32", "--weights", str(weights))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("lednet-ros demo: error: ")
    assert "Traceback" not in result.stderr


def test_segment_refuses_inputs_that_would_overwrite_each_other_and_skips_hidden_folders(tmp_path: Path) -> None:
    for folder in ("a", "b", "c/.hidden"):
        (tmp_path / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / folder / "f.png"), np.zeros((20, 20, 3), np.uint8))
    result = lednet_ros(
        "segment", str(tmp_path / "a" / "f.png"), str(tmp_path / "b" / "f.png"), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 1 and "would both write f_*.png" in result.stderr
    result = lednet_ros("segment", str(tmp_path / "c"), "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "no images found" in result.stdout


def test_bench_node_measures_the_node_end_to_end(tmp_path: Path, weights: Path) -> None:
    env_args = (
        "bench-node",
        "--sizes",
        "80x48",
        "--frames",
        "4",
        "--rate",
        "4",
        "--weights",
        str(weights),
        "--out",
        str(tmp_path),
    )
    result = lednet_ros(*env_args)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = json.loads((tmp_path / "bench_node.json").read_text())["rows"]
    assert row["sent"] == 4 and 1 <= row["received"] <= 4
    assert row["latency_p50_ms"] > 0 and row["inference_p50_ms"] > 0
    assert "| 80x48 |" in (tmp_path / "bench_node.md").read_text()
