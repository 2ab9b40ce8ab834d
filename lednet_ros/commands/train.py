"""``lednet-ros train``: train LEDNet with the authors' recipe.

Defaults follow the authors' ``train/main.py``: input 1024x512, no
normalisation, random horizontal flip and a random shift of up to 2 pixels,
cross-entropy weighted per class with ENet's ``1 / ln(1.02 + p_class)``
computed from the training labels' histogram (ignore id 255 not counted),
Adam (lr 5e-4, betas 0.9/0.999, eps 1e-8, weight decay 1e-4), polynomial
learning-rate decay with power 0.9, batch size 5. Their optional first stage
(train the encoder alone against labels at 1/8 resolution, then the whole
network) is ``--encoder-epochs N``. Every setting is a command-line option.

Differences, on purpose: the poly decay is applied per iteration rather than
per epoch (smoother; the same schedule shape), and ``--max-iterations`` /
``--max-minutes`` stop early so that a CPU can train within a time budget.

Writes to ``--out``: ``best.pt`` (highest validation mIoU) and ``last.pt``
in the project's checkpoint format with full metadata, ``last_state.pt``
(optimizer and progress, for ``--resume``), ``train.log`` (one line per
epoch), ``history.json`` and ``training.png`` (loss and mIoU per epoch).

Several GPUs: ``torchrun --nproc_per_node N -m lednet_ros train ...`` uses
DistributedDataParallel (one process per GPU; ``--batch-size`` is per GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from lednet_ros.commands.args import run_guarded, size_argument
from lednet_ros.data.datasets import Augmentation, SegmentationDataset, find_samples, label_histogram
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.inference.engine import resolve_device
from lednet_ros.model.checkpoint import WeightsSpec, load_checkpoint, save_checkpoint
from lednet_ros.model.classes import ClassConfig, load_class_config
from lednet_ros.model.network import LEDNet

__all__ = ["TrainConfig", "TrainResult", "enet_class_weights", "main", "run"]

PROG = "lednet-ros train"


@dataclass
class TrainConfig:
    """Every setting of a training run (stored in the checkpoints' provenance)."""

    data: str
    out: str
    val_data: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    size: tuple[int, int] = (1024, 512)
    epochs: int = 300
    encoder_epochs: int = 0
    batch_size: int = 5
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    class_weights: str = "enet"
    flip: bool = True
    max_shift: int = 2
    max_iterations: int | None = None
    max_minutes: float | None = None
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    name: str = "lednet.custom"
    class_config: str | None = None
    resume: str | None = None
    init_weights: str | None = None


@dataclass
class TrainResult:
    """What a run produced."""

    best_miou: float
    best_epoch: int
    epochs_run: int
    iterations: int
    seconds: float
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)


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


def _poly(iteration: int, total: int, power: float) -> float:
    return (1.0 - min(iteration, total - 1) / total) ** power


class _EncoderHead(nn.Module):
    """The authors' encoder-only stage: encoder + 1x1 conv to classes at 1/8 resolution."""

    def __init__(self, model: LEDNet) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.output_conv = nn.Conv2d(model.encoder.out_channels, model.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_conv(self.encoder(x))


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, initialising the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return rank, world, local


def _evaluate(
    model: nn.Module, loader: DataLoader, classes: ClassConfig, device: torch.device
) -> tuple[float, list[float]]:
    matrix = ConfusionMatrix(classes.num_classes)
    model.eval()
    with torch.inference_mode():
        for images, labels in loader:
            prediction = model(images.to(device)).argmax(1).cpu().numpy()
            matrix.update(labels.numpy(), prediction)
    scores = matrix.scores()
    return scores.miou, list(scores.per_class_iou)


def _plot(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415 (only needed here)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

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


@dataclass(frozen=True)
class _Schedule:
    """Poly learning rate over the whole run, and when to stop."""

    lr: float
    power: float
    total_iterations: int
    deadline: float

    def lr_at(self, iteration: int) -> float:
        return self.lr * _poly(iteration, self.total_iterations, self.power)

    def done(self, iteration: int) -> bool:
        return iteration >= self.total_iterations or time.monotonic() > self.deadline


def _train_epoch(
    trained: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    schedule: _Schedule,
    iteration: int,
    device: torch.device,
    *,
    encoder_only: bool,
) -> tuple[list[float], int, bool]:
    """One pass over the batches; returns the losses, the iteration count, and whether to stop."""
    losses: list[float] = []
    for batch_images, batch_labels in batches:
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(iteration)
        images = batch_images.to(device, non_blocking=True)
        labels = batch_labels.to(device, non_blocking=True)
        logits = trained(images)
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


def _write_history(history: list[dict[str, float]], out: Path) -> None:
    """``history.json`` (NaN as null) and the ``training.png`` plot."""
    plain = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in h.items()} for h in history]
    (out / "history.json").write_text(json.dumps(plain, indent=1) + "\n", encoding="utf-8")
    _plot([h for h in history if h["stage"] == "full"] or history, out / "training.png")


def run(config: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Train as ``config`` says; return where the checkpoints are and how it went.

    Raises:
        LednetError: unusable data, device, or resume/init checkpoint.
    """
    from tqdm import tqdm  # noqa: PLC0415

    rank, world, local_rank = _distributed()
    main_process = rank == 0
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":  # torchrun: one GPU per process
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    torch.manual_seed(config.seed + rank)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = load_class_config(config.class_config)
    train_samples = find_samples(config.data, config.train_split)
    val_samples = find_samples(config.val_data or config.data, config.val_split)

    if config.class_weights == "enet":
        weights = enet_class_weights(label_histogram(train_samples, classes))
    elif config.class_weights == "none":
        weights = torch.ones(classes.num_classes)
    else:
        msg = f"unknown class weighting {config.class_weights!r}: use enet or none"
        raise LednetError(msg)
    criterion = nn.CrossEntropyLoss(weight=weights.to(device), ignore_index=classes.ignore_id)

    model = LEDNet(classes.num_classes)
    if config.init_weights:
        initial = load_checkpoint(config.init_weights)
        if initial.meta.num_classes != classes.num_classes or not initial.meta.mirrored_right:
            msg = f"{config.init_weights}: weights for {initial.meta.num_classes} classes cannot start a {classes.num_classes}-class run"
            raise LednetError(msg)
        model.load_state_dict(initial.state_dict)
    model.to(device)

    augmentation = Augmentation(config.size, flip=config.flip, max_shift=config.max_shift, ignore_id=classes.ignore_id)
    train_set = SegmentationDataset(train_samples, classes, augmentation, train=True, seed=config.seed)
    val_set = SegmentationDataset(val_samples, classes, augmentation, train=False)
    sampler = DistributedSampler(train_set, world, rank, seed=config.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=config.workers, drop_last=len(train_set) >= config.batch_size * world,
                              generator=generator, pin_memory=device.type == "cuda")  # fmt: skip
    val_loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.workers)
    if len(train_loader) == 0:
        msg = f"{config.data}: {len(train_set)} training images are fewer than one batch of {config.batch_size}"
        raise LednetError(msg)

    history: list[dict[str, float]] = []
    start_epoch, iteration, best_miou, best_epoch = 0, 0, -1.0, -1
    stages = [("encoder", config.encoder_epochs), ("full", config.epochs)]
    total_epochs = config.encoder_epochs + config.epochs
    state_path = out / "last_state.pt"
    optimizer_state = None
    if config.resume:
        resumed = load_checkpoint(Path(config.resume) / "last.pt" if Path(config.resume).is_dir() else config.resume)
        model.load_state_dict(resumed.state_dict)
        state_file = (
            Path(config.resume) if Path(config.resume).is_dir() else Path(config.resume).parent
        ) / "last_state.pt"
        if not state_file.is_file():
            msg = f"{state_file}: training state for --resume not found"
            raise LednetError(msg)
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        start_epoch, iteration = int(state["epoch"]), int(state["iteration"])
        best_miou, best_epoch = float(state["best_miou"]), int(state["best_epoch"])
        history = list(state["history"])
        optimizer_state = state["optimizer"]

    iterations_per_epoch = len(train_loader)
    planned = total_epochs * iterations_per_epoch
    total_iterations = min(planned, config.max_iterations) if config.max_iterations else planned
    started = time.monotonic()
    deadline = started + 60.0 * config.max_minutes if config.max_minutes else math.inf
    log = (out / "train.log").open("a", encoding="utf-8") if main_process else None

    def say(line: str) -> None:
        if log is not None:
            log.write(line + "\n")
            log.flush()
            if progress:
                tqdm.write(line)

    say(f"# {PROG}: {len(train_set)} training / {len(val_set)} validation images at {config.size[0]}x{config.size[1]}, "
        f"{total_iterations} iterations planned, device {device}, {world} process(es), torch {torch.__version__}")  # fmt: skip
    say(f"# class weights ({config.class_weights}): " + " ".join(f"{w:.2f}" for w in weights.tolist()))

    schedule = _Schedule(config.lr, config.poly_power, total_iterations, deadline)
    epoch = start_epoch
    stop = False
    head: nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None
    current_stage = None
    for stage, stage_epochs in stages:
        stage_first = 0 if stage == "encoder" else config.encoder_epochs
        for stage_epoch in range(stage_epochs):
            epoch_index = stage_first + stage_epoch
            if epoch_index < start_epoch:
                continue
            if current_stage != stage:
                current_stage = stage
                head = _EncoderHead(model).to(device) if stage == "encoder" else model
                trained: nn.Module = head
                if world > 1:
                    trained = nn.parallel.DistributedDataParallel(
                        head, device_ids=[device.index] if device.type == "cuda" else None
                    )
                optimizer = torch.optim.Adam(trained.parameters(), lr=config.lr, betas=config.betas, eps=1e-8,
                                             weight_decay=config.weight_decay)  # fmt: skip
                if optimizer_state is not None and stage == "full":
                    optimizer.load_state_dict(optimizer_state)
                    optimizer_state = None
            assert optimizer is not None and head is not None
            train_set.epoch = epoch_index
            if sampler is not None:
                sampler.set_epoch(epoch_index)
            trained.train()
            bar = tqdm(train_loader, desc=f"epoch {epoch_index + 1}/{total_epochs} ({stage})", unit="batch",
                       disable=None if (progress and main_process) else True, leave=False)  # fmt: skip
            losses, iteration, stop = _train_epoch(trained, bar, optimizer, criterion, schedule, iteration, device,
                                                   encoder_only=stage == "encoder")  # fmt: skip
            epoch = epoch_index + 1
            if main_process:
                val_miou, per_class = (
                    _evaluate(model, val_loader, classes, device) if stage == "full" else (float("nan"), [])
                )
                record = {"epoch": epoch, "stage": stage, "iteration": iteration, "train_loss": float(np.mean(losses)),
                          "val_miou": val_miou, "lr": optimizer.param_groups[0]["lr"],
                          "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
                history.append(record)
                say(f"epoch {epoch:4d} {stage:7s} iter {iteration:6d} loss {record['train_loss']:.4f} "
                    f"val mIoU {100 * val_miou:6.2f}% lr {record['lr']:.2e} {record['seconds']:8.1f}s")  # fmt: skip
                meta = _weights_spec(config, classes, epoch, iteration, val_miou, per_class, time.monotonic() - started)
                save_checkpoint(out / "last.pt", model, meta)
                if stage == "full" and val_miou > best_miou:
                    best_miou, best_epoch = val_miou, epoch
                    save_checkpoint(out / "best.pt", model, meta)
                torch.save({"epoch": epoch, "iteration": iteration, "best_miou": best_miou, "best_epoch": best_epoch,
                            "history": history, "optimizer": optimizer.state_dict() if stage == "full" else None},
                           state_path)  # fmt: skip
                _write_history(history, out)
            if world > 1:
                torch.distributed.barrier()
            if stop:
                break
        if stop:
            break
    seconds = time.monotonic() - started
    say(
        f"# done: {epoch} epochs, {iteration} iterations, {seconds:.0f} s; best val mIoU {100 * best_miou:.2f}% (epoch {best_epoch})"
    )
    if log is not None:
        log.close()
    if world > 1:
        torch.distributed.destroy_process_group()
    return TrainResult(best_miou, best_epoch, epoch, iteration, seconds, out / "best.pt", out / "last.pt", history)


def _weights_spec(config: TrainConfig, classes: ClassConfig, epoch: int, iteration: int, miou: float,
                  per_class: list[float], seconds: float) -> WeightsSpec:  # fmt: skip
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


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros train``."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Train LEDNet (the authors' recipe by default) on a dataset in the Cityscapes layout or a folder of image/label pairs.",
    )
    p.add_argument("data", help="dataset root (Cityscapes layout, or SPLIT/images + SPLIT/labels)")
    p.add_argument("--out", default="out/train", metavar="DIR", help="output folder (default: out/train)")
    p.add_argument("--val-data", metavar="DIR", help="validation dataset root (default: the same root)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument(
        "--size", type=size_argument, default=(1024, 512), metavar="WxH", help="training resolution (default: 1024x512)"
    )
    p.add_argument("--epochs", type=int, default=300, help="epochs of the full network (default: 300)")
    p.add_argument("--encoder-epochs", type=int, default=0, help="epochs of the encoder-only first stage (default: 0)")
    p.add_argument("--batch-size", type=int, default=5, help="images per step (per GPU) (default: 5)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (default: 5e-4)")
    p.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999), metavar=("B1", "B2"))
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--poly-power", type=float, default=0.9)
    p.add_argument("--class-weights", choices=["enet", "none"], default="enet")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    p.add_argument("--max-shift", type=int, default=2, help="random shift in pixels (default: 2)")
    p.add_argument(
        "--max-iterations", type=int, metavar="N", help="stop after N iterations (the poly schedule ends there)"
    )
    p.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes of training")
    p.add_argument("--workers", type=int, default=0, help="data loading processes (default: 0)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="lednet.custom", help="weights name stored in the checkpoint (arch.tag)")
    p.add_argument("--class-config", metavar="YAML", help="class set (default: config/cityscapes.yaml)")
    p.add_argument(
        "--resume", metavar="DIR_OR_FILE", help="continue from a previous --out folder (last.pt + last_state.pt)"
    )
    p.add_argument("--init-weights", metavar="FILE", help="start from these weights (fine-tuning)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros train``."""
    args = build_parser().parse_args(argv)
    config = TrainConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(args).items()})
    if config.epochs < 1 or config.batch_size < 1 or config.encoder_epochs < 0:
        build_parser().error("--epochs and --batch-size must be at least 1, --encoder-epochs at least 0")

    def body() -> int:
        result = run(config)
        print(f"best validation mIoU {100 * result.best_miou:.2f}% at epoch {result.best_epoch}; "
              f"{result.iterations} iterations in {result.seconds:.0f} s")  # fmt: skip
        print(f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
        return 0

    return run_guarded(PROG, body)
