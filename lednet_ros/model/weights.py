"""What a set of LEDNet weights is: :class:`WeightsSpec` (a checkpoint's ``meta``) and :class:`Checkpoint`.

``meta`` says what the tensors are: architecture options, class names and
colours, training resolution, normalisation and provenance, so a weights
file is self-describing. Reading and writing files is
:mod:`lednet_ros.model.checkpoint`'s job; this module only describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lednet_ros.errors import CheckpointError, ClassConfigError
from lednet_ros.model.classes import ClassConfig
from lednet_ros.model.network import LEDNet, lednet

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

__all__ = ["Checkpoint", "WeightsSpec"]


@dataclass(frozen=True)
class WeightsSpec:
    """What a set of LEDNet weights is, as stored in a checkpoint's ``meta``.

    Attributes:
        name: ``arch.tag`` name of the weight set, e.g. ``lednet.synthetic_v1``.
        num_classes: output channels of the network.
        mirrored_right: SS-nbt right halves mirrored (authors) or not (pytorchcv).
        classes: names, colours and ignore id of the classes the outputs mean.
        void_class: an output channel meaning "no class", published as the
            ignore id (the authors' 20th channel); ``None`` if there is none.
        train_size: (width, height) the weights were trained at, if known.
        mean: per-channel RGB mean subtracted after scaling to [0, 1], or None.
        std: per-channel RGB std divided by, or None.
        trained: False for randomly initialised weights.
        provenance: free-form plain data: source, recipe, data, metrics, date.
    """

    name: str
    num_classes: int
    mirrored_right: bool
    classes: ClassConfig
    void_class: int | None = None
    train_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    trained: bool = True
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = self.classes.num_classes + (0 if self.void_class is None else 1)
        if self.num_classes != expected:
            void = "" if self.void_class is None else f" plus void channel {self.void_class}"
            msg = (
                f"weights {self.name!r}: {self.num_classes} outputs do not match "
                f"{self.classes.num_classes} classes{void}"
            )
            raise CheckpointError(msg)
        if self.void_class is not None and self.void_class != self.num_classes - 1:
            msg = f"weights {self.name!r}: the void class must be the last output, got {self.void_class}"
            raise CheckpointError(msg)
        if (self.mean is None) != (self.std is None):
            msg = f"weights {self.name!r}: give both mean and std, or neither"
            raise CheckpointError(msg)
        if self.std is not None and any(s <= 0 for s in self.std):
            msg = f"weights {self.name!r}: std must be positive, got {self.std}"
            raise CheckpointError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (str, int, float, bool, list, dict) for ``meta``."""
        return {
            "arch": "lednet",
            "name": self.name,
            "num_classes": self.num_classes,
            "mirrored_right": self.mirrored_right,
            "void_class": self.void_class,
            "classes": self.classes.to_dict(),
            "train_size": None if self.train_size is None else list(self.train_size),
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "trained": self.trained,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> WeightsSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            CheckpointError: a field is missing or malformed.
        """
        try:
            if data.get("arch", "lednet") != "lednet":
                msg = f"{source}: architecture {data['arch']!r} is not 'lednet'"
                raise CheckpointError(msg)
            return cls(
                name=str(data["name"]),
                num_classes=int(data["num_classes"]),
                mirrored_right=bool(data["mirrored_right"]),
                classes=ClassConfig.from_dict(data["classes"], source=f"{source} (meta.classes)"),
                void_class=None if data.get("void_class") is None else int(data["void_class"]),
                train_size=_pair(data.get("train_size")),
                mean=_triple(data.get("mean")),
                std=_triple(data.get("std")),
                trained=bool(data.get("trained", True)),
                provenance=dict(data.get("provenance") or {}),
            )
        except (CheckpointError, ClassConfigError) as exc:
            raise CheckpointError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{source}: invalid checkpoint metadata ({type(exc).__name__}: {exc})"
            raise CheckpointError(msg) from None


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _triple(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if len(value) != 3:
        msg = f"expected 3 values, got {value!r}"
        raise ValueError(msg)
    return (float(value[0]), float(value[1]), float(value[2]))


@dataclass(frozen=True)
class Checkpoint:
    """Weights in this project's layout plus what they are.

    Attributes:
        meta: the :class:`WeightsSpec`.
        state_dict: tensors keyed as :class:`~lednet_ros.model.network.LEDNet` names them.
        path: file it came from, or None (e.g. untrained weights).
        source_format: ``lednet_ros``, ``authors``, ``pytorchcv`` or ``untrained``.
        sha256: hex digest of the file, or None.
    """

    meta: WeightsSpec
    state_dict: dict[str, Tensor]
    path: Path | None = None
    source_format: str = "lednet_ros"
    sha256: str | None = None

    def build_model(self) -> LEDNet:
        """A LEDNet with these weights, in eval mode."""
        return lednet(weights=self).eval()

    def describe(self) -> str:
        """One line for logs: which weights, from where, trained or not."""
        where = "built in" if self.path is None else str(self.path)
        digest = "" if self.sha256 is None else f", sha256 {self.sha256[:12]}"
        state = "" if self.meta.trained else " UNTRAINED (random initialisation; outputs are meaningless)"
        return f"{self.meta.name} ({self.source_format}, {where}{digest}){state}"
