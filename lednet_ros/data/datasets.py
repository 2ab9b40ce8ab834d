"""Segmentation datasets on disk, and the authors' training augmentation.

Two layouts are read:

* **Cityscapes**: ``ROOT/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png``
  with ``ROOT/gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png`` (train
  ids), or, when those are absent, ``<name>_gtFine_labelIds.png`` (dataset ids,
  mapped to train ids through the class config's ``label_id``).
  ``lednet-ros synth`` writes this layout.
* **Image/label pairs**: ``ROOT/<split>/images/<name>.<ext>`` with
  ``ROOT/<split>/labels/<name>.png`` (8-bit train ids, 255 = ignore), or the
  same without the ``<split>`` level. This is the easy way to train on frames
  labelled from a robot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from lednet_ros.data.image_files import IMAGE_SUFFIXES, read_rgb
from lednet_ros.errors import LednetError
from lednet_ros.model.classes import ClassConfig

__all__ = ["Augmentation", "SegmentationDataset", "find_samples", "label_histogram"]


@dataclass(frozen=True)
class Sample:
    """One image and its label file; ``dataset_ids`` when labels need mapping to train ids.

    ``remap``: a label map's 256-entry table (:mod:`lednet_ros.data.label_map`),
    applied to the label file's values instead of either rule.
    """

    image: Path
    label: Path
    dataset_ids: bool = False
    remap: tuple[int, ...] | None = None


def _cityscapes_samples(root: Path, split: str) -> list[Sample]:
    samples = []
    for image in sorted((root / "leftImg8bit" / split).rglob("*_leftImg8bit.png")):
        relative = image.relative_to(root / "leftImg8bit" / split)
        stem = image.name.removesuffix("_leftImg8bit.png")
        folder = root / "gtFine" / split / relative.parent
        train_ids = folder / f"{stem}_gtFine_labelTrainIds.png"
        label_ids = folder / f"{stem}_gtFine_labelIds.png"
        if train_ids.is_file():
            samples.append(Sample(image, train_ids))
        elif label_ids.is_file():
            samples.append(Sample(image, label_ids, dataset_ids=True))
        else:
            msg = f"{image}: no ground truth ({train_ids.name} or {label_ids.name}) in {folder}"
            raise LednetError(msg)
    return samples


def _pair_samples(folder: Path) -> list[Sample]:
    samples = []
    for image in sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        label = folder / "labels" / f"{image.stem}.png"
        if not label.is_file():
            msg = f"{image}: no label image {label}"
            raise LednetError(msg)
        samples.append(Sample(image, label))
    return samples


def find_samples(root: str | Path, split: str, label_map: np.ndarray | None = None) -> list[Sample]:
    """List the (image, label) pairs of ``split`` under ``root``, in either layout.

    ``label_map`` (a 256-entry table from :func:`~lednet_ros.data.label_map.load_label_map`)
    maps the label files' values to the run's train ids.

    Raises:
        LednetError: no dataset in a known layout, an image without its label,
            or an empty split.
    """
    root = Path(root)
    if not root.is_dir():
        msg = f"{root}: dataset folder not found"
        raise LednetError(msg)
    if (root / "leftImg8bit").is_dir():
        samples = _cityscapes_samples(root, split)
    elif (root / split / "images").is_dir():
        samples = _pair_samples(root / split)
    elif (root / "images").is_dir():
        samples = _pair_samples(root)
    else:
        msg = (
            f"{root}: not a dataset: expected leftImg8bit/ and gtFine/ (Cityscapes layout) "
            f"or {split}/images/ and {split}/labels/ (image/label pairs)"
        )
        raise LednetError(msg)
    if not samples:
        msg = f"{root}: split {split!r} has no images"
        raise LednetError(msg)
    if label_map is not None:
        remap = tuple(int(v) for v in label_map)
        samples = [replace(sample, remap=remap) for sample in samples]
    return samples


def _train_id_lut(classes: ClassConfig) -> np.ndarray:
    """256-entry map from Cityscapes ``labelIds`` to train ids (everything else: ignore)."""
    if classes.label_ids is None:
        msg = f"class config {classes.name!r} has no label_id per class, so *_labelIds.png cannot be mapped"
        raise LednetError(msg)
    lut = np.full(256, classes.ignore_id, dtype=np.uint8)
    for train_id, label_id in enumerate(classes.label_ids):
        lut[label_id] = train_id
    return lut


def read_label(sample: Sample, classes: ClassConfig) -> np.ndarray:
    """Label image as HxW uint8 train ids; ids outside the class set become the ignore id."""
    data = np.fromfile(sample.label, dtype=np.uint8)
    label = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if label is None or label.ndim != 2:
        msg = f"{sample.label}: not a single-channel label image"
        raise LednetError(msg)
    label = label.astype(np.uint8)
    if sample.remap is not None:
        return np.asarray(sample.remap, dtype=np.uint8)[label]
    if sample.dataset_ids:
        return _train_id_lut(classes)[label]
    label[(label >= classes.num_classes) & (label != classes.ignore_id)] = classes.ignore_id
    return label


def label_histogram(samples: list[Sample], classes: ClassConfig) -> np.ndarray:
    """Pixel count per train id over ``samples`` (ignore excluded)."""
    counts = np.zeros(classes.num_classes, dtype=np.int64)
    for sample in samples:
        counts += np.bincount(read_label(sample, classes).ravel(), minlength=256)[: classes.num_classes]
    return counts


@dataclass(frozen=True)
class Augmentation:
    """The authors' recipe: resize, random horizontal flip, random shift of up to 2 pixels.

    ``size`` is (width, height). The shift pads with black (image) and the
    ignore id (labels), as their ``MyCoTransform`` does.
    """

    size: tuple[int, int]
    flip: bool = True
    max_shift: int = 2
    ignore_id: int = 255

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: random.Random | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply to one pair; ``rng`` None means no random part (validation)."""
        width, height = self.size
        if image.shape[:2] != (height, width):
            # Shrinking averages (like PIL's antialiased resize in the authors' pipeline); growing interpolates.
            shrink = width < image.shape[1] or height < image.shape[0]
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if label.shape != (height, width):
            label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)
        if rng is None:
            return image, label
        if self.flip and rng.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        dx, dy = rng.randint(-self.max_shift, self.max_shift), rng.randint(-self.max_shift, self.max_shift)
        if dx or dy:
            shift = np.float32([[1, 0, dx], [0, 1, dy]])
            image = cv2.warpAffine(np.ascontiguousarray(image), shift, (width, height), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
            label = cv2.warpAffine(np.ascontiguousarray(label), shift, (width, height), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=self.ignore_id)  # fmt: skip
        return np.ascontiguousarray(image), np.ascontiguousarray(label)


class SegmentationDataset(Dataset):
    """Torch dataset of (3xHxW float image in [0, 1] RGB, HxW int64 train ids)."""

    def __init__(self, samples: list[Sample], classes: ClassConfig, augmentation: Augmentation, *,
                 train: bool, seed: int = 0) -> None:  # fmt: skip
        self.samples = samples
        self.classes = classes
        self.augmentation = augmentation
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        image = read_rgb(sample.image)
        label = read_label(sample, self.classes)
        # Seeded per (epoch, index): reproducible, and different each epoch.
        rng = random.Random(hash((self.seed, self.epoch, index))) if self.train else None
        image, label = self.augmentation(image, label, rng)
        x = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
        return x, torch.from_numpy(label.astype(np.int64))
