from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from lednet_ros.commands.train import build_parser, parse_config
from lednet_ros.cpu import CpuInfo, cpu_info
from lednet_ros.data.generate import generate_dataset as synth
from lednet_ros.errors import LednetError
from lednet_ros.model.checkpoint import load_checkpoint
from lednet_ros.training.config import TrainConfig
from lednet_ros.training.recipe import enet_class_weights, train_autocast
from lednet_ros.training.trainer import run


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    synth(root, 4, seed=0, size=(96, 48), split="train", progress=False)
    synth(root, 4, seed=0, size=(96, 48), split="val", progress=False)  # the same frames: over-fitting is the point
    return root


def test_the_command_line_defaults_are_the_config_defaults() -> None:
    assert {f.name for f in fields(TrainConfig)} == set(vars(build_parser().parse_args(["root"])))
    assert parse_config(["root"]) == TrainConfig(data="root")
    config = parse_config(["root", "--size", "64x32", "--betas", "0.8", "0.99", "--no-flip", "--max-iterations", "7"])
    assert config == TrainConfig(data="root", size=(64, 32), betas=(0.8, 0.99), flip=False, max_iterations=7)


def test_enet_weights_follow_the_formula() -> None:
    weights = enet_class_weights(np.array([900, 100, 0]))
    assert weights[0].item() == pytest.approx(1 / np.log(1.02 + 0.9))
    assert weights[1].item() == pytest.approx(1 / np.log(1.02 + 0.1))
    assert weights[2].item() == 0.0


def test_training_over_fits_a_handful_of_images_and_writes_everything(tiny_dataset: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = TrainConfig(data=str(tiny_dataset), out=str(tmp_path), size=(96, 48), epochs=25, batch_size=4,
                         lr=5e-3, max_shift=0, flip=False, name="lednet.test")  # fmt: skip
    result = run(config, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 25 and result.iterations == 25
    assert losses[-1] < 0.6 * losses[0], losses
    assert result.best_miou > result.history[0]["val_miou"]
    best = load_checkpoint(result.best_checkpoint)
    assert best.meta.name == "lednet.test" and best.meta.trained
    assert best.meta.train_size == (96, 48)
    assert best.meta.provenance["recipe"]["lr"] == 5e-3
    assert best.meta.provenance["val_miou"] == pytest.approx(result.best_miou, abs=1e-6)
    for name in ["last.pt", "last_state.pt", "train.log", "history.json", "training.png"]:
        assert (tmp_path / name).is_file(), name
    assert "val mIoU" in (tmp_path / "train.log").read_text()


def test_bf16_training_runs_where_the_cpu_has_it_and_is_refused_elsewhere(tiny_dataset: Path, tmp_path: Path) -> None:
    without = CpuInfo("Intel Xeon Platinum 8375C", frozenset({"avx512f", "avx512_vnni"}))
    with pytest.raises(LednetError, match="needs a CPU with native bf16"):
        train_autocast("bf16", torch.device("cpu"), cpu=without)
    with pytest.raises(LednetError, match="unknown training precision 'int8'"):
        train_autocast("int8", torch.device("cpu"))
    with train_autocast("fp32", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    if not cpu_info().native_bf16:
        with pytest.raises(LednetError, match="native bf16"):
            run(TrainConfig(data=str(tiny_dataset), out=str(tmp_path), size=(96, 48), precision="bf16"), progress=False)
        return
    torch.manual_seed(0)
    config = TrainConfig(data=str(tiny_dataset), out=str(tmp_path), size=(96, 48), epochs=3, batch_size=4,
                         lr=5e-3, max_shift=0, flip=False, precision="bf16")  # fmt: skip
    result = run(config, progress=False)
    assert result.iterations == 3 and np.isfinite([h["train_loss"] for h in result.history]).all()
    best = load_checkpoint(result.best_checkpoint)
    assert all(v.dtype == torch.float32 for v in best.state_dict.values() if v.is_floating_point()), "saved in fp32"
    assert best.meta.provenance["recipe"]["precision"] == "bf16"
    assert "precision bf16" in (tmp_path / "train.log").read_text()


def test_resume_continues_where_it_stopped(tiny_dataset: Path, tmp_path: Path) -> None:
    first = TrainConfig(
        data=str(tiny_dataset), out=str(tmp_path), size=(64, 32), epochs=3, batch_size=4, max_iterations=2
    )
    assert run(first, progress=False).iterations == 2
    resumed = TrainConfig(
        data=str(tiny_dataset), out=str(tmp_path), size=(64, 32), epochs=3, batch_size=4, resume=str(tmp_path)
    )
    result = run(resumed, progress=False)
    assert result.iterations == 3 and result.epochs_run == 3
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_encoder_stage_runs_first(tiny_dataset: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        data=str(tiny_dataset), out=str(tmp_path), size=(64, 32), epochs=1, encoder_epochs=1, batch_size=4
    )
    result = run(config, progress=False)
    assert [h["stage"] for h in result.history] == ["encoder", "full"]


def test_torchrun_two_processes_train_with_distributed_data_parallel(tiny_dataset: Path, tmp_path: Path) -> None:
    """The multi-GPU path, exercised on the CPU with the gloo backend."""
    import subprocess
    import sys

    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lednet_ros", "train", str(tiny_dataset),
         "--out", str(tmp_path), "--size", "64x32", "--epochs", "2", "--batch-size", "2", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    log = (tmp_path / "train.log").read_text()
    assert "2 process(es)" in log
    assert log.count("\nepoch ") == 2  # written once, by rank 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[-1]["iteration"] == 2  # 4 images / (2 per process x 2 processes) = 1 step per epoch
    assert load_checkpoint(tmp_path / "last.pt").meta.trained
