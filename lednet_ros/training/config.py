"""The settings of a training run, and what a run produced.

:class:`TrainConfig` is the one place that sets the training defaults:
``lednet-ros train`` builds its options from its fields (defaults and help
texts), and a finished checkpoint stores the whole config as its recipe.
Imports neither torch nor the model, so the command's ``--help`` stays fast.

Defaults follow the authors' ``train/main.py``: input 1024x512, no
normalisation, random horizontal flip and a random shift of up to 2 pixels,
cross-entropy weighted per class with ENet's ``1 / ln(1.02 + p_class)``,
Adam (lr 5e-4, betas 0.9/0.999, eps 1e-8, weight decay 1e-4), polynomial
learning-rate decay with power 0.9, batch size 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from lednet_ros.model.paper import PAPER_INPUT_SIZE

__all__ = ["CLASS_WEIGHTINGS", "TRAIN_PRECISIONS", "TrainConfig", "TrainResult", "train_option_help"]

CLASS_WEIGHTINGS = ("enet", "none")
"""``enet``: ENet's ``1 / ln(1.02 + p_class)`` from the training labels; ``none``: all classes alike."""


TRAIN_PRECISIONS = ("fp32", "bf16")
"""``bf16``: the forward and backward passes under bfloat16 autocast; the weights, the optimizer and the loss stay fp32."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainConfig:
    """Every setting of a training run (stored in the checkpoints' provenance).

    Each field's ``help`` metadata is the text the command line shows.
    """

    data: str = field(metadata=_help("dataset root (Cityscapes layout, or SPLIT/images + SPLIT/labels)"))
    out: str = field(default="out/train", metadata=_help("output folder"))
    val_data: str | None = field(default=None, metadata=_help("validation dataset root (default: the same root)"))
    train_split: str = field(default="train", metadata=_help("split of the training images"))
    val_split: str = field(default="val", metadata=_help("split of the validation images"))
    size: tuple[int, int] = field(default=PAPER_INPUT_SIZE, metadata=_help("training resolution"))
    epochs: int = field(default=300, metadata=_help("epochs of the full network"))
    encoder_epochs: int = field(default=0, metadata=_help("epochs of the encoder-only first stage"))
    batch_size: int = field(default=5, metadata=_help("images per step (per GPU)"))
    lr: float = field(default=5e-4, metadata=_help("Adam learning rate"))
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=_help("Adam betas"))
    weight_decay: float = field(default=1e-4, metadata=_help("Adam weight decay"))
    poly_power: float = field(default=0.9, metadata=_help("power of the polynomial learning-rate decay"))
    class_weights: str = field(default="enet", metadata=_help("loss weight per class: enet or none"))
    flip: bool = field(default=True, metadata=_help("random horizontal flips"))
    max_shift: int = field(default=2, metadata=_help("random shift in pixels"))
    max_iterations: int | None = field(
        default=None, metadata=_help("stop after N iterations (the poly schedule ends there)")
    )
    max_minutes: float | None = field(default=None, metadata=_help("stop after M minutes of training"))
    precision: str = field(
        default="fp32",
        metadata=_help("fp32, or bf16 autocast (faster; on a CPU only where it has native bf16)"),
    )
    workers: int = field(default=0, metadata=_help("data loading processes"))
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N"))
    seed: int = field(default=0, metadata=_help("seed of the weights' start, the shuffling and the augmentation"))
    name: str = field(default="lednet.custom", metadata=_help("weights name stored in the checkpoint (arch.tag)"))
    class_config: str | None = field(default=None, metadata=_help("class set YAML (default: config/cityscapes.yaml)"))
    resume: str | None = field(
        default=None, metadata=_help("continue from a previous output folder (last.pt + last_state.pt)")
    )
    init_weights: str | None = field(
        default=None,
        metadata=_help("start from these weights (fine-tuning; with another class set, the class layers start afresh)"),
    )
    freeze_encoder_iterations: int = field(
        default=0, metadata=_help("keep the encoder frozen for the first N iterations (fine-tuning)")
    )
    label_map: str | None = field(
        default=None, metadata=_help("YAML map of the label files' values to this run's classes (or ignore)")
    )


def train_option_help(name: str) -> str:
    """The help text of one :class:`TrainConfig` field."""
    return next(f.metadata["help"] for f in fields(TrainConfig) if f.name == name)


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
