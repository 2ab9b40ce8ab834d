"""Which labelled pixels the outputs keep: a confidence threshold and a list of published classes.

Costmap layers and other consumers act on every class id they are given.
Two node parameters narrow that down, and both act on the label image
before anything is published from it (``labels``, the colour mask, the
cloud's labels and the Nav2 mask):

- ``min_confidence`` (0-1, 0 = off): a pixel whose softmax probability is
  below it becomes the ignore id. It is compared at the 8-bit resolution of
  the ``confidence`` image (probability x 255, rounded), so a subscriber can
  check the rule on what it receives: a pixel is kept where
  ``confidence >= ceil(255 * min_confidence)``.
- ``publish_classes`` (class names; ``['']`` = all, the project's way of
  writing an empty list parameter): pixels of any other class become the
  ignore id, and LabelInfo lists only these classes.

NumPy only; the node builds one :class:`ClassFilter` per parameter change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lednet_ros.errors import LednetError
from lednet_ros.model.classes import ClassConfig

__all__ = ["ClassFilter", "confidence_floor", "published_class_ids"]


def published_class_ids(classes: ClassConfig, publish_classes: Sequence[str]) -> tuple[int, ...]:
    """The train ids ``publish_classes`` names, in train-id order; all of them for ``['']`` or ``[]``.

    Raises:
        LednetError: a name that is not a class of ``classes`` (names are
            matched exactly, as the Nav2 layer matches them).
    """
    names = [name for name in publish_classes if name]
    if not names:
        return tuple(range(classes.num_classes))
    unknown = [name for name in names if name not in classes.names]
    if unknown:
        msg = (
            f"parameter publish_classes: {', '.join(repr(n) for n in unknown)} not in the class set "
            f"{classes.name!r} ({', '.join(classes.names)})"
        )
        raise LednetError(msg)
    return tuple(i for i, name in enumerate(classes.names) if name in names)


def confidence_floor(min_confidence: float) -> int:
    """The lowest 8-bit confidence (probability x 255) a pixel keeps its class with; 0: every pixel.

    Raises:
        ValueError: ``min_confidence`` outside 0-1 or not finite.
    """
    if not 0.0 <= min_confidence <= 1.0:  # NaN fails both comparisons
        msg = f"min_confidence must be in 0-1, got {min_confidence}"
        raise ValueError(msg)
    return math.ceil(round(255.0 * min_confidence, 6))  # 0.2 * 255 is 51.000000000000007: still 51


@dataclass(frozen=True)
class ClassFilter:
    """The pixel rule of ``min_confidence`` and ``publish_classes`` for one class set."""

    classes: ClassConfig
    published: tuple[int, ...]
    """Train ids that stay (:func:`published_class_ids`)."""
    min_confidence: float = 0.0

    @classmethod
    def from_parameters(
        cls, classes: ClassConfig, publish_classes: Sequence[str], min_confidence: float
    ) -> ClassFilter:
        """From the node's parameter values.

        Raises:
            LednetError: an unknown class name or a threshold outside 0-1.
        """
        try:
            confidence_floor(min_confidence)
        except ValueError as exc:
            raise LednetError(f"parameter {exc}") from None
        return cls(classes, published_class_ids(classes, publish_classes), float(min_confidence))

    @property
    def floor(self) -> int:
        """:func:`confidence_floor` of :attr:`min_confidence`."""
        return confidence_floor(self.min_confidence)

    @property
    def needs_confidence(self) -> bool:
        """Whether :meth:`apply` reads the confidence image (the node must compute it then)."""
        return self.floor > 0

    @property
    def active(self) -> bool:
        """Whether :meth:`apply` can change a pixel (off: the labels go out as the network gave them)."""
        return self.needs_confidence or len(self.published) < self.classes.num_classes

    def lookup(self) -> np.ndarray:
        """256 uint8: each label value to itself if published, else to the ignore id."""
        table = np.full(256, self.classes.ignore_id, np.uint8)
        table[list(self.published)] = self.published
        return table

    def apply(self, labels: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
        """``labels`` with every filtered pixel set to the ignore id; ``labels`` itself when the filter is off.

        Args:
            labels: H x W uint8 train ids.
            confidence: H x W uint8 (probability x 255) of the same frame;
                needed only when :attr:`needs_confidence`.

        Raises:
            ValueError: the threshold is on and ``confidence`` is missing or of another shape.
        """
        if not self.active:
            return labels
        out = self.lookup()[labels] if len(self.published) < self.classes.num_classes else labels.copy()
        if self.needs_confidence:
            if confidence is None or confidence.shape != labels.shape:
                got = None if confidence is None else confidence.shape
                msg = f"min_confidence needs a confidence image of the labels' shape {labels.shape}, got {got}"
                raise ValueError(msg)
            out[confidence < self.floor] = self.classes.ignore_id
        return out
