"""The pieces of the authors' recipe: class weights, the poly schedule, the encoder stage, one epoch.

Differences from the authors' ``train/main.py``, on purpose: the poly decay
is applied per iteration rather than per epoch (smoother; the same schedule
shape), and the schedule may end early (``max_iterations``, ``max_minutes``)
so that a CPU can train within a time budget.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)
from torch import nn
from torch.utils.data import DataLoader

from lednet_ros.cpu import CpuInfo, check_native_bf16
from lednet_ros.data.datasets import Sample, label_histogram
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.model.classes import ClassConfig
from lednet_ros.model.network import LEDNet
from lednet_ros.training.config import TRAIN_PRECISIONS

__all__ = [
    "EncoderHead",
    "Schedule",
    "class_weights",
    "distributed",
    "enet_class_weights",
    "train_autocast",
    "train_epoch",
    "validation_miou",
]


def enet_class_weights(histogram: np.ndarray, c: float = 1.02) -> torch.Tensor:
    """ENet class weighting ``1 / ln(c + p)``; classes never seen get weight 0."""
    total = histogram.sum()
    if total == 0:
        msg = "the training labels contain no pixel of any class"
        raise LednetError(msg)
    frequency = histogram / total
    weights = 1.0 / np.log(c + frequency)
    weights[histogram == 0] = 0.0
    return torch.tensor(weights, dtype=torch.float32)


def class_weights(weighting: str, samples: list[Sample], classes: ClassConfig) -> torch.Tensor:
    """The loss weight of each class: ``enet`` from the labels' histogram (ignore id not counted), or ``none``.

    Raises:
        LednetError: an unknown weighting, or labels without any pixel of a class.
    """
    if weighting == "enet":
        return enet_class_weights(label_histogram(samples, classes))
    if weighting == "none":
        return torch.ones(classes.num_classes)
    msg = f"unknown class weighting {weighting!r}: use enet or none"
    raise LednetError(msg)


@dataclass(frozen=True)
class Schedule:
    """Poly learning rate over the whole run, and when to stop."""

    lr: float
    power: float
    total_iterations: int
    deadline: float
    """``time.monotonic()`` after which the run stops (``inf``: no time limit)."""

    @classmethod
    def plan(cls, lr: float, power: float, planned: int, max_iterations: int | None,
             max_minutes: float | None) -> Schedule:  # fmt: skip
        """``planned`` iterations, cut to ``max_iterations``; the clock starts now for ``max_minutes``."""
        total = min(planned, max_iterations) if max_iterations else planned
        deadline = time.monotonic() + 60.0 * max_minutes if max_minutes else math.inf
        return cls(lr, power, total, deadline)

    def lr_at(self, iteration: int) -> float:
        """The learning rate of ``iteration``: ``lr * (1 - iteration / total) ** power``."""
        return self.lr * (1.0 - min(iteration, self.total_iterations - 1) / self.total_iterations) ** self.power

    def done(self, iteration: int) -> bool:
        """Whether the run stops after ``iteration`` iterations."""
        return iteration >= self.total_iterations or time.monotonic() > self.deadline


class EncoderHead(nn.Module):
    """The authors' encoder-only stage: encoder + 1x1 conv to classes at 1/8 resolution."""

    def __init__(self, model: LEDNet) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.output_conv = nn.Conv2d(model.encoder.out_channels, model.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores at 1/8 of the input's resolution."""
        return self.output_conv(self.encoder(x))


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, initialising the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return rank, world, local


def train_autocast(precision: str, device: torch.device, cpu: CpuInfo | None = None) -> torch.autocast:
    """The autocast context of a training step in ``precision`` (``fp32``: disabled).

    ``cpu`` stands in for this machine's CPU (tests of other CPU kinds).

    Raises:
        LednetError: an unknown precision, or bf16 on a CPU without native bf16 (emulated, slower than fp32).
    """
    if precision not in TRAIN_PRECISIONS:
        msg = f"unknown training precision {precision!r}: use {', '.join(TRAIN_PRECISIONS)}"
        raise LednetError(msg)
    if precision == "bf16" and device.type == "cpu":
        check_native_bf16("training precision bf16", "fp32", cpu)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def validation_miou(
    model: nn.Module, loader: DataLoader, classes: ClassConfig, device: torch.device
) -> tuple[float, list[float]]:
    """The mIoU and per-class IoU of ``model`` on the validation ``loader``."""
    matrix = ConfusionMatrix(classes.num_classes)
    model.eval()
    with torch.inference_mode():
        for images, labels in loader:
            batch = images.to(device).contiguous(memory_format=torch.channels_last)
            prediction = model(batch).argmax(1).cpu().numpy()
            matrix.update(labels.numpy(), prediction)
    scores = matrix.scores()
    return scores.miou, list(scores.per_class_iou)


def train_epoch(
    trained: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    schedule: Schedule,
    iteration: int,
    device: torch.device,
    *,
    encoder_only: bool,
    autocast: torch.autocast,
    before_step: Callable[[int], None] | None = None,
) -> tuple[list[float], int, bool]:
    """One pass over the batches under ``autocast``; returns the losses, the iteration count, and whether to stop.

    The images go in channels-last, the layout oneDNN's and cuDNN's fastest
    convolutions use (the model is converted by the trainer). ``before_step``
    is called with the iteration number before each step (freezing the
    encoder for the first iterations).
    """
    losses: list[float] = []
    for batch_images, batch_labels in batches:
        if before_step is not None:
            before_step(iteration)
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(iteration)
        images = batch_images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        labels = batch_labels.to(device, non_blocking=True)
        with autocast:
            logits = trained(images)
        logits = logits.float()
        if encoder_only:  # the authors' first stage scores the encoder at 1/8 resolution
            labels = F.interpolate(labels[:, None].float(), size=logits.shape[-2:], mode="nearest")[:, 0].long()
        loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        iteration += 1
        if hasattr(batches, "set_postfix"):
            batches.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        if schedule.done(iteration):
            return losses, iteration, True
    return losses, iteration, False
