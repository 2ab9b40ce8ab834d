"""What a training run leaves in its output folder besides the weights' tensors.

``history.json`` and ``training.png`` (loss and validation mIoU per epoch),
and the provenance a checkpoint carries (the recipe, the epoch, the scores,
the hardware).
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from pathlib import Path

import torch

from lednet_ros.evaluation.report import pyplot
from lednet_ros.model.classes import ClassConfig
from lednet_ros.model.weights import WeightsSpec
from lednet_ros.training.config import TrainConfig

__all__ = ["plot_history", "weights_spec", "write_history"]


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Training loss and validation mIoU per epoch, on two axes."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(epochs, [h["train_loss"] for h in history], color="tab:red", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("weighted cross-entropy", color="tab:red")
    miou_axis = loss_axis.twinx()
    miou_axis.plot(epochs, [100 * h["val_miou"] for h in history], color="tab:blue", marker="o", ms=3, label="val mIoU")
    miou_axis.set_ylabel("validation mIoU (%)", color="tab:blue")
    miou_axis.set_ylim(0, 100)
    loss_axis.set_title("LEDNet training")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_history(history: list[dict[str, float]], out: Path) -> None:
    """``history.json`` (NaN as null) and the ``training.png`` plot (the full network's epochs, when there are)."""
    plain = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in h.items()} for h in history]
    (out / "history.json").write_text(json.dumps(plain, indent=1) + "\n", encoding="utf-8")
    plot_history([h for h in history if h["stage"] == "full"] or history, out / "training.png")


def weights_spec(config: TrainConfig, classes: ClassConfig, epoch: int, iteration: int, miou: float,
                 per_class: list[float], seconds: float) -> WeightsSpec:  # fmt: skip
    """The metadata of a checkpoint saved after ``epoch``: the recipe, the progress and the validation scores."""
    recipe = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    return WeightsSpec(
        name=config.name,
        num_classes=classes.num_classes,
        mirrored_right=True,
        classes=classes,
        train_size=config.size,
        trained=True,
        provenance={
            "source": "lednet-ros train",
            "recipe": recipe,
            "epoch": epoch,
            "iteration": iteration,
            "val_miou": None if math.isnan(miou) else round(miou, 6),
            "val_per_class_iou": [None if math.isnan(v) else round(v, 6) for v in per_class],
            "training_seconds": round(seconds, 1),
            "hardware": f"{platform.machine()} / {torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}",
            "torch": str(torch.__version__),
        },
    )
