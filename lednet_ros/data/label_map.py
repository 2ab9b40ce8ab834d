"""Label maps: labels drawn in one class set, read as another (``--label-map FILE``).

A label map is a YAML mapping from a source label value (what the label
files or the bag's label topic hold: Cityscapes train ids, the synthetic
generator's, a labelling tool's) to a target class, by train id or by name,
or to ``ignore``::

    # the synthetic generator's Cityscapes train ids -> a 4-class set
    0: drivable        # road
    1: walkable        # sidewalk
    9: walkable        # terrain
    10: sky
    255: ignore

A source value the map does not list becomes the ignore id: nothing is
guessed. The file is read with the limits of every user file
(:mod:`lednet_ros.user_files`: a regular file of at most 1 MiB, YAML without
aliases). The same map serves ``train``, ``score`` and ``evaluate``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lednet_ros.errors import LednetError
from lednet_ros.model.classes import ClassConfig
from lednet_ros.user_files import load_yaml

__all__ = ["IGNORE", "LABEL_MAP_HELP", "apply_label_map", "label_map_lut", "load_label_map"]

IGNORE = "ignore"
"""The target that means "no class, not scored"."""

LABEL_MAP_HELP = "YAML map of the ground truth's label values to the weights' classes (by id or name) or ignore"
"""The help text of ``--label-map`` in the commands that score (``score``, ``evaluate``)."""


def _target_id(source: str, key: object, value: object, classes: ClassConfig) -> int:
    """The train id (or ignore id) ``value`` names in ``classes``."""
    if isinstance(value, str) and value.strip().lower() == IGNORE:
        return classes.ignore_id
    if isinstance(value, str) and value in classes.names:
        return classes.names.index(value)
    plain_int = isinstance(value, int) and not isinstance(value, bool)
    if plain_int and (0 <= value < classes.num_classes or value == classes.ignore_id):  # type: ignore[operator]
        return int(value)  # type: ignore[arg-type]
    msg = (f"{source}: {key!r} maps to {value!r}, which is neither a class of {classes.name!r} "
           f"(0..{classes.num_classes - 1} or a name) nor {IGNORE!r}")  # fmt: skip
    raise LednetError(msg)


def label_map_lut(mapping: object, classes: ClassConfig, source: str = "label map") -> np.ndarray:
    """The 256-entry uint8 table a mapping ``{source value: target}`` stands for; unlisted values -> ignore.

    Raises:
        LednetError: not a mapping, a source value outside 0..255, or a target not in ``classes``.
    """
    if not isinstance(mapping, dict) or not mapping:
        msg = f"{source}: a label map is a YAML mapping of source label values to target classes"
        raise LednetError(msg)
    lut = np.full(256, classes.ignore_id, dtype=np.uint8)
    for key, value in mapping.items():
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= 255:
            msg = f"{source}: source label {key!r} is not a label value in 0..255"
            raise LednetError(msg)
        lut[key] = _target_id(source, key, value, classes)
    return lut


def load_label_map(path: str | os.PathLike[str], classes: ClassConfig) -> np.ndarray:
    """Read a label map file into the 256-entry table for ``classes`` (the target class set).

    Raises:
        LednetError: the file is refused (size, kind, YAML) or its content does not fit ``classes``.
    """
    return label_map_lut(load_yaml(path, "label map"), classes, str(Path(path)))


def apply_label_map(labels: np.ndarray, lut: np.ndarray | None) -> np.ndarray:
    """``labels`` (uint8 source values) as target train ids; unchanged when ``lut`` is None."""
    return labels if lut is None else lut[labels]
