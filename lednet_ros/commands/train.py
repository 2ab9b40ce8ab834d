"""``lednet-ros train``: train LEDNet with the authors' recipe.

The options, their defaults and their help texts come from
:class:`~lednet_ros.training.config.TrainConfig`; the recipe is described in
:mod:`lednet_ros.training`. The authors' optional first stage (the encoder
alone against labels at 1/8 resolution, then the whole network) is
``--encoder-epochs N``; ``--max-iterations`` / ``--max-minutes`` stop early so
that a CPU can train within a time budget.

Fine-tuning: ``--init-weights FILE`` starts from other weights, of any class
set (the class layers start afresh, :mod:`lednet_ros.training.finetune`),
``--freeze-encoder-iterations N`` holds the encoder for the first N
iterations, and ``--label-map YAML`` reads labels drawn in another class set.

Writes to ``--out``: ``best.pt`` (highest validation mIoU) and ``last.pt``
in the project's checkpoint format with full metadata, ``last_state.pt``
(optimizer and progress, for ``--resume``), ``train.log`` (one line per
epoch), ``history.json`` and ``training.png`` (loss and mIoU per epoch).

Several GPUs: ``torchrun --nproc_per_node N -m lednet_ros train ...`` uses
DistributedDataParallel (one process per GPU; ``--batch-size`` is per GPU).
"""

from __future__ import annotations

import argparse
from typing import Any

from lednet_ros.commands.args import run_guarded, size_argument
from lednet_ros.training.config import CLASS_WEIGHTINGS, TRAIN_PRECISIONS, TrainConfig, train_option_help

__all__ = ["build_parser", "main", "parse_config"]

PROG = "lednet-ros train"

DEFAULTS = TrainConfig(data="")


def _shown(value: object) -> str:
    """A default as the command line writes it (``1024x512``, ``0.9 0.999``)."""
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return "x".join(str(v) for v in value)
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _option(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--NAME`` for the :class:`TrainConfig` field ``name``: its default, and its help with the default."""
    default = getattr(DEFAULTS, name)
    text = train_option_help(name)
    if default is not None:
        text += f" (default: {_shown(default)})"
    parser.add_argument("--" + name.replace("_", "-"), default=default, help=text, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros train``: one per :class:`TrainConfig` field."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Train LEDNet (the authors' recipe by default) on a dataset in the Cityscapes layout or a folder of image/label pairs.",
    )
    p.add_argument("data", help=train_option_help("data"))
    _option(p, "out", metavar="DIR")
    _option(p, "val_data", metavar="DIR")
    _option(p, "train_split")
    _option(p, "val_split")
    _option(p, "size", type=size_argument, metavar="WxH")
    _option(p, "epochs", type=int)
    _option(p, "encoder_epochs", type=int)
    _option(p, "batch_size", type=int)
    _option(p, "lr", type=float)
    _option(p, "betas", type=float, nargs=2, metavar=("B1", "B2"))
    _option(p, "weight_decay", type=float)
    _option(p, "poly_power", type=float)
    _option(p, "class_weights", choices=CLASS_WEIGHTINGS)
    p.add_argument("--no-flip", dest="flip", action="store_false", default=DEFAULTS.flip,
                   help="no random horizontal flips")  # fmt: skip
    _option(p, "max_shift", type=int)
    _option(p, "max_iterations", type=int, metavar="N")
    _option(p, "max_minutes", type=float, metavar="M")
    _option(p, "precision", choices=TRAIN_PRECISIONS)
    _option(p, "workers", type=int)
    _option(p, "device")
    _option(p, "seed", type=int)
    _option(p, "name")
    _option(p, "class_config", metavar="YAML")
    _option(p, "resume", metavar="DIR_OR_FILE")
    _option(p, "init_weights", metavar="FILE")
    _option(p, "freeze_encoder_iterations", type=int, metavar="N")
    _option(p, "label_map", metavar="YAML")
    return p


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` the command line ``argv`` asks for (argparse exits 2 on a bad option)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = TrainConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(args).items()})
    if config.epochs < 1 or config.batch_size < 1 or config.encoder_epochs < 0 or config.freeze_encoder_iterations < 0:
        parser.error(
            "--epochs and --batch-size must be at least 1, --encoder-epochs and --freeze-encoder-iterations at least 0"
        )
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros train``."""
    config = parse_config(argv)

    def body() -> int:
        from lednet_ros.training.trainer import run  # noqa: PLC0415 (torch only once the options are valid)

        result = run(config)
        print(f"best validation mIoU {100 * result.best_miou:.2f}% at epoch {result.best_epoch}; "
              f"{result.iterations} iterations in {result.seconds:.0f} s")  # fmt: skip
        print(f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
        return 0

    return run_guarded(PROG, body)
