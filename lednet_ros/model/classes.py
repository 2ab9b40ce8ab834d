"""Class sets: names, train ids, display colours and the ignore id.

The palette lives in configuration (``config/cityscapes.yaml``), not in code,
so a user who trains on their own classes only writes a YAML file. Checkpoints
embed the same information, so a weights file is self-describing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lednet_ros.errors import ClassConfigError, LednetError
from lednet_ros.resources import config_file
from lednet_ros.user_files import load_yaml

__all__ = ["DEFAULT_CLASS_CONFIG", "ClassConfig", "load_class_config"]

DEFAULT_CLASS_CONFIG = "cityscapes.yaml"


@dataclass(frozen=True)
class ClassConfig:
    """An ordered set of classes; class ``i`` is train id ``i``.

    Attributes:
        name: short name of the class set (``cityscapes``).
        names: class names, index = train id.
        colors: RGB colour per class, index = train id.
        ignore_id: label value meaning "no class / do not score" (Cityscapes: 255).
        ignore_color: RGB colour drawn for ``ignore_id``.
        label_ids: optional dataset label id per class (Cityscapes ``labelIds``).
    """

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_id: int = 255
    ignore_color: tuple[int, int, int] = (0, 0, 0)
    label_ids: tuple[int, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.names:
            msg = f"class set {self.name!r} has no classes"
            raise ClassConfigError(msg)
        if len(self.names) != len(self.colors):
            msg = f"class set {self.name!r}: {len(self.names)} names but {len(self.colors)} colours"
            raise ClassConfigError(msg)
        if len(self.names) > 255:
            msg = f"class set {self.name!r}: {len(self.names)} classes do not fit uint8 labels (max 255)"
            raise ClassConfigError(msg)
        if not 0 <= self.ignore_id <= 255 or self.ignore_id < len(self.names):
            msg = (
                f"class set {self.name!r}: ignore_id {self.ignore_id} must be in "
                f"[{len(self.names)}, 255], above every train id"
            )
            raise ClassConfigError(msg)
        for color in (*self.colors, self.ignore_color):
            if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
                msg = f"class set {self.name!r}: colour {color!r} is not three values in 0..255"
                raise ClassConfigError(msg)

    @property
    def num_classes(self) -> int:
        """Number of classes (train ids ``0 .. num_classes-1``)."""
        return len(self.names)

    def palette(self) -> np.ndarray:
        """A 256x3 uint8 look-up table: label value -> RGB colour.

        Values that are neither a train id nor ``ignore_id`` are drawn in the
        ignore colour too, so any uint8 label image can be coloured.
        """
        lut = np.empty((256, 3), dtype=np.uint8)
        lut[:] = self.ignore_color
        lut[: self.num_classes] = np.asarray(self.colors, dtype=np.uint8)
        return lut

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in checkpoints and YAML."""
        classes = []
        for i, (name, color) in enumerate(zip(self.names, self.colors, strict=True)):
            entry: dict[str, Any] = {"id": i, "name": name, "color": list(color)}
            if self.label_ids is not None:
                entry["label_id"] = self.label_ids[i]
            classes.append(entry)
        return {
            "name": self.name,
            "ignore_id": self.ignore_id,
            "ignore_color": list(self.ignore_color),
            "classes": classes,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "class config") -> ClassConfig:
        """Build from the plain-data form, checking every field.

        Raises:
            ClassConfigError: a field is missing or has the wrong type.
        """
        try:
            entries = sorted(data["classes"], key=lambda e: int(e["id"]))
            ids = [int(e["id"]) for e in entries]
            if ids != list(range(len(ids))):
                msg = f"{source}: class ids must be 0..N-1 without gaps, got {ids}"
                raise ClassConfigError(msg)
            has_label_ids = all("label_id" in e for e in entries)
            return cls(
                name=str(data.get("name", "custom")),
                names=tuple(str(e["name"]) for e in entries),
                colors=tuple(tuple(int(c) for c in e["color"]) for e in entries),  # type: ignore[misc]
                ignore_id=int(data.get("ignore_id", 255)),
                ignore_color=tuple(int(c) for c in data.get("ignore_color", (0, 0, 0))),  # type: ignore[arg-type]
                label_ids=tuple(int(e["label_id"]) for e in entries) if has_label_ids else None,
            )
        except ClassConfigError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            msg = f"{source}: invalid class config ({type(exc).__name__}: {exc})"
            raise ClassConfigError(msg) from None


def load_class_config(path: str | Path | None = None) -> ClassConfig:
    """Read a class set from YAML; ``None`` reads the shipped Cityscapes set.

    Raises:
        ClassConfigError: the file is missing, not a regular file, over 1 MiB,
            not YAML (or YAML with aliases), or not a valid class set.
    """
    resolved = config_file(DEFAULT_CLASS_CONFIG) if path is None else Path(path)
    try:  # bounded: a regular file of at most 1 MiB, YAML without aliases (lednet_ros.user_files)
        data = load_yaml(resolved, "class config")
    except LednetError as exc:
        raise ClassConfigError(str(exc)) from None
    return ClassConfig.from_dict(data, source=str(resolved))
