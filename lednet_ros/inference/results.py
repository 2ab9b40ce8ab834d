"""What the engine returns: one :class:`SegmentationResult` per image, uint8 arrays in host memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

__all__ = ["SegmentationResult", "to_host"]


@dataclass(frozen=True)
class SegmentationResult:
    """Per-pixel results at the input image's resolution (all uint8, host memory).

    Attributes:
        labels: HxW class train ids; the ignore id (255) where the network
            predicted its void class.
        confidence: HxW softmax probability of the chosen class x 255, or None
            when not requested.
        color: HxWx3 RGB palette image, or None when not requested.
        overlay: HxWx3 RGB blend of the input and ``color``, or None.
    """

    labels: np.ndarray
    confidence: np.ndarray | None = None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None


def to_host(outputs: dict[str, Tensor], *, copy: bool) -> list[SegmentationResult]:
    """Batched output tensors (the outputs asked for, by name) -> one :class:`SegmentationResult` per image.

    ``copy``: give each image its own arrays (needed when ``outputs`` are
    reused buffers); without it the rows are views of fresh tensors.
    """
    arrays = {name: tensor.cpu().numpy() for name, tensor in outputs.items()}

    def take(name: str, row: int) -> np.ndarray:
        return arrays[name][row].copy() if copy else arrays[name][row]

    def pick(name: str, row: int) -> np.ndarray | None:
        return take(name, row) if name in arrays else None

    return [
        SegmentationResult(
            labels=take("labels", row),
            confidence=pick("confidence", row),
            color=pick("color", row),
            overlay=pick("overlay", row),
        )
        for row in range(len(arrays["labels"]))
    ]
