"""A training run: data, model and optimizer set up as :class:`TrainConfig` says, then the epochs.

The authors' optional first stage (the encoder alone against labels at 1/8
resolution, ``encoder_epochs``) runs before the whole network (``epochs``).
Validation, checkpoints and the history are written after every epoch, so a
run cut short leaves a usable ``last.pt`` and can be resumed.

Writes to ``config.out``: ``best.pt`` (highest validation mIoU) and
``last.pt`` in the project's checkpoint format with full metadata,
``last_state.pt`` (optimizer and progress, for ``resume``), ``train.log``
(one line per epoch), ``history.json`` and ``training.png``.

Under ``torchrun`` each process trains on its share of the batches with
DistributedDataParallel (one process per GPU; ``batch_size`` is per process)
and the first process writes the files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lednet_ros.data.datasets import Augmentation, Sample, SegmentationDataset, find_samples
from lednet_ros.data.label_map import load_label_map
from lednet_ros.errors import LednetError
from lednet_ros.inference.device import resolve_device
from lednet_ros.model.checkpoint import load_checkpoint, save_checkpoint
from lednet_ros.model.classes import ClassConfig, load_class_config
from lednet_ros.model.network import LEDNet
from lednet_ros.training.config import TrainConfig, TrainResult
from lednet_ros.training.finetune import Transfer, set_encoder_frozen, transfer_weights
from lednet_ros.training.outputs import weights_spec, write_history
from lednet_ros.training.recipe import (
    EncoderHead,
    Schedule,
    class_weights,
    distributed,
    train_autocast,
    train_epoch,
    validation_miou,
)

__all__ = ["run"]

STATE_FILE = "last_state.pt"


def run(config: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Train as ``config`` says; return where the checkpoints are and how it went.

    ``progress`` shows a progress bar and echoes the log lines on the terminal.

    Raises:
        LednetError: unusable data, device, or resume/init checkpoint.
    """
    rank, world, local_rank = distributed()
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":  # torchrun: one GPU per process
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and config.freeze_encoder_iterations:  # DDP's gradient buckets are fixed when it wraps the model
        msg = "freeze_encoder_iterations is not supported under torchrun (DistributedDataParallel)"
        raise LednetError(msg)
    torch.manual_seed(config.seed + rank)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    classes = load_class_config(config.class_config)
    label_map = load_label_map(config.label_map, classes) if config.label_map else None
    train_samples = find_samples(config.data, config.train_split, label_map)
    val_samples = find_samples(config.val_data or config.data, config.val_split, label_map)
    weights = class_weights(config.class_weights, train_samples, classes)
    autocast = train_autocast(config.precision, device)
    model, transfer = _initial_model(config, classes)
    model = model.to(device, memory_format=torch.channels_last)
    data = _Data.build(config, classes, train_samples, val_samples, rank, world, pin_memory=device.type == "cuda")
    state = _resume(config, model) if config.resume else _Progress()
    trainer = _Trainer(config, classes, model, data, device, rank, world, weights, state, autocast,
                       show_progress=progress)  # fmt: skip
    if transfer is not None:
        trainer.notes.append(transfer.summary())
    try:
        return trainer.train()
    finally:
        trainer.close()


def _initial_model(config: TrainConfig, classes: ClassConfig) -> tuple[LEDNet, Transfer | None]:
    """A fresh network, or one started from ``init_weights`` (fine-tuning, to any class set); what was kept."""
    model = LEDNet(classes.num_classes)
    if not config.init_weights:
        return model, None
    initial = load_checkpoint(config.init_weights)
    if not initial.meta.mirrored_right:
        msg = f"{config.init_weights}: weights of the pytorchcv replica (mirrored_right=False) cannot start a run"
        raise LednetError(msg)
    return model, transfer_weights(model, initial)


@dataclass(frozen=True)
class _Data:
    """The training and validation sets and their loaders (the training set shuffled per process)."""

    train_set: SegmentationDataset
    val_set: SegmentationDataset
    sampler: DistributedSampler | None
    train_loader: DataLoader
    val_loader: DataLoader

    @classmethod
    def build(cls, config: TrainConfig, classes: ClassConfig, train_samples: list[Sample], val_samples: list[Sample],
              rank: int, world: int, *, pin_memory: bool) -> _Data:  # fmt: skip
        augmentation = Augmentation(config.size, flip=config.flip, max_shift=config.max_shift,
                                    ignore_id=classes.ignore_id)  # fmt: skip
        train_set = SegmentationDataset(train_samples, classes, augmentation, train=True, seed=config.seed)
        val_set = SegmentationDataset(val_samples, classes, augmentation, train=False)
        sampler = DistributedSampler(train_set, world, rank, seed=config.seed) if world > 1 else None
        generator = torch.Generator().manual_seed(config.seed)
        train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                                  num_workers=config.workers, drop_last=len(train_set) >= config.batch_size * world,
                                  generator=generator, pin_memory=pin_memory)  # fmt: skip
        val_loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.workers)
        if len(train_loader) == 0:
            msg = f"{config.data}: {len(train_set)} training images are fewer than one batch of {config.batch_size}"
            raise LednetError(msg)
        return cls(train_set, val_set, sampler, train_loader, val_loader)


@dataclass
class _Progress:
    """Where a run stands: restored from ``last_state.pt`` by a resumed run, saved there after every epoch."""

    epoch: int = 0
    iteration: int = 0
    best_miou: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    optimizer_state: dict[str, Any] | None = None
    """The full stage's optimizer state, until the resumed run's optimizer has taken it."""


def _resume(config: TrainConfig, model: nn.Module) -> _Progress:
    """Load ``config.resume`` (a previous output folder, or its ``last.pt``) into ``model``; its progress."""
    resume = Path(str(config.resume))
    folder = resume if resume.is_dir() else resume.parent
    model.load_state_dict(load_checkpoint(resume / "last.pt" if resume.is_dir() else resume).state_dict)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        msg = f"{state_file}: training state for --resume not found"
        raise LednetError(msg)
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    return _Progress(int(state["epoch"]), int(state["iteration"]), float(state["best_miou"]), int(state["best_epoch"]),
                     list(state["history"]), state["optimizer"])  # fmt: skip


class _Trainer:
    """The epochs of one run, in stage order, with validation, checkpoints and the log after each."""

    def __init__(self, config: TrainConfig, classes: ClassConfig, model: LEDNet, data: _Data, device: torch.device,
                 rank: int, world: int, weights: torch.Tensor, progress: _Progress, autocast: torch.autocast, *,
                 show_progress: bool) -> None:  # fmt: skip
        self.config, self.classes, self.model, self.data, self.device = config, classes, model, data, device
        self.world, self.main_process, self.show_progress = world, rank == 0, show_progress
        self.progress = progress
        self.weights = weights
        self.criterion = nn.CrossEntropyLoss(weight=weights.to(device), ignore_index=classes.ignore_id)
        self.out = Path(config.out)
        self.total_epochs = config.encoder_epochs + config.epochs
        self.started = time.monotonic()
        planned = self.total_epochs * len(data.train_loader)
        self.schedule = Schedule.plan(config.lr, config.poly_power, planned, config.max_iterations, config.max_minutes)
        self.log = (self.out / "train.log").open("a", encoding="utf-8") if self.main_process else None
        self.autocast = autocast
        self.notes: list[str] = []
        """Lines for the head of the log (what the start weights kept)."""

    def say(self, line: str) -> None:
        """One line in ``train.log`` (first process only), echoed above the progress bar."""
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()
            if self.show_progress:
                tqdm.write(line)

    def close(self) -> None:
        """Close the log."""
        if self.log is not None:
            self.log.close()
            self.log = None

    def train(self) -> TrainResult:
        """Every epoch not run yet; then the result."""
        config, p = self.config, self.progress
        self.say(f"# lednet-ros train: {len(self.data.train_set)} training / {len(self.data.val_set)} validation images "
                 f"at {config.size[0]}x{config.size[1]}, {self.schedule.total_iterations} iterations planned, "
                 f"device {self.device}, precision {config.precision}, {self.world} process(es), "
                 f"torch {torch.__version__}")  # fmt: skip
        self.say(f"# class weights ({config.class_weights}): " + " ".join(f"{w:.2f}" for w in self.weights.tolist()))
        for note in self.notes:
            self.say(f"# {note}")
        if config.freeze_encoder_iterations:
            self.say(f"# encoder frozen for the first {config.freeze_encoder_iterations} iterations")
        current_stage = None
        for stage, epoch_index in self._epochs_to_run():
            if stage != current_stage:
                current_stage = stage
                trained, optimizer = self._stage(stage)
            if self._epoch(stage, epoch_index, trained, optimizer):
                break
        seconds = time.monotonic() - self.started
        self.say(f"# done: {p.epoch} epochs, {p.iteration} iterations, {seconds:.0f} s; "
                 f"best val mIoU {100 * p.best_miou:.2f}% (epoch {p.best_epoch})")  # fmt: skip
        self.close()
        if self.world > 1:
            torch.distributed.destroy_process_group()
        return TrainResult(p.best_miou, p.best_epoch, p.epoch, p.iteration, seconds, self.out / "best.pt",
                           self.out / "last.pt", p.history)  # fmt: skip

    def _epochs_to_run(self) -> Iterator[tuple[str, int]]:
        """(stage, epoch index) of the encoder stage's epochs, then the full network's, from where the run stands."""
        stages = [("encoder", 0, self.config.encoder_epochs),
                  ("full", self.config.encoder_epochs, self.config.epochs)]  # fmt: skip
        start = self.progress.epoch
        for stage, first, count in stages:
            yield from ((stage, index) for index in range(first, first + count) if index >= start)

    def _stage(self, stage: str) -> tuple[nn.Module, torch.optim.Optimizer]:
        """The module a stage trains (wrapped for DistributedDataParallel under torchrun) and its Adam optimizer."""
        head: nn.Module = (
            EncoderHead(self.model).to(self.device, memory_format=torch.channels_last)
            if stage == "encoder"
            else self.model
        )
        trained = head
        if self.world > 1:
            trained = nn.parallel.DistributedDataParallel(
                head, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        optimizer = torch.optim.Adam(trained.parameters(), lr=self.config.lr, betas=self.config.betas, eps=1e-8,
                                     weight_decay=self.config.weight_decay)  # fmt: skip
        if self.progress.optimizer_state is not None and stage == "full":
            optimizer.load_state_dict(self.progress.optimizer_state)
            self.progress.optimizer_state = None
        return trained, optimizer

    def _epoch(self, stage: str, epoch_index: int, trained: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        """Train one epoch and record it; whether the schedule says stop."""
        self.data.train_set.epoch = epoch_index
        if self.data.sampler is not None:
            self.data.sampler.set_epoch(epoch_index)
        trained.train()
        bar = tqdm(self.data.train_loader, desc=f"epoch {epoch_index + 1}/{self.total_epochs} ({stage})",
                   unit="batch", disable=None if (self.show_progress and self.main_process) else True,
                   leave=False)  # fmt: skip
        losses, self.progress.iteration, stop = train_epoch(
            trained, bar, optimizer, self.criterion, self.schedule, self.progress.iteration, self.device,
            encoder_only=stage == "encoder", autocast=self.autocast,
            before_step=self._freeze if stage == "full" and self.config.freeze_encoder_iterations else None,
        )  # fmt: skip
        self.progress.epoch = epoch_index + 1
        if self.main_process:
            self._record(stage, losses, optimizer)
        if self.world > 1:
            torch.distributed.barrier()
        return stop

    def _freeze(self, iteration: int) -> None:
        """The encoder frozen before iteration ``freeze_encoder_iterations``, trained from then on."""
        set_encoder_frozen(self.model, iteration < self.config.freeze_encoder_iterations)

    def _record(self, stage: str, losses: list[float], optimizer: torch.optim.Optimizer) -> None:
        """Validate (full stage only) and write the log line, the checkpoints, the state and the history."""
        p, out = self.progress, self.out
        val_miou, per_class = (
            validation_miou(self.model, self.data.val_loader, self.classes, self.device)
            if stage == "full"
            else (math.nan, [])
        )
        record = {"epoch": p.epoch, "stage": stage, "iteration": p.iteration, "train_loss": float(np.mean(losses)),
                  "val_miou": val_miou, "lr": optimizer.param_groups[0]["lr"],
                  "seconds": round(time.monotonic() - self.started, 1)}  # fmt: skip
        p.history.append(record)
        self.say(f"epoch {p.epoch:4d} {stage:7s} iter {p.iteration:6d} loss {record['train_loss']:.4f} "
                 f"val mIoU {100 * val_miou:6.2f}% lr {record['lr']:.2e} {record['seconds']:8.1f}s")  # fmt: skip
        meta = weights_spec(self.config, self.classes, p.epoch, p.iteration, val_miou, per_class,
                            time.monotonic() - self.started)  # fmt: skip
        save_checkpoint(out / "last.pt", self.model, meta)
        if stage == "full" and val_miou > p.best_miou:
            p.best_miou, p.best_epoch = val_miou, p.epoch
            save_checkpoint(out / "best.pt", self.model, meta)
        torch.save({"epoch": p.epoch, "iteration": p.iteration, "best_miou": p.best_miou, "best_epoch": p.best_epoch,
                    "history": p.history, "optimizer": optimizer.state_dict() if stage == "full" else None},
                   out / STATE_FILE)  # fmt: skip
        write_history(p.history, out)
