from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from lednet_ros.data.datasets import Augmentation, SegmentationDataset, find_samples, label_histogram, read_label
from lednet_ros.data.generate import generate_dataset as synth
from lednet_ros.errors import LednetError
from lednet_ros.model.classes import load_class_config


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    synth(root, 3, size=(64, 32), split="train", progress=False)
    synth(root, 2, seed=1, size=(64, 32), split="val", progress=False)
    return root


def test_cityscapes_layout_is_found_per_split(cityscapes_root: Path) -> None:
    train, val = find_samples(cityscapes_root, "train"), find_samples(cityscapes_root, "val")
    assert len(train) == 3 and len(val) == 2
    assert all(s.label.name.endswith("_gtFine_labelTrainIds.png") and not s.dataset_ids for s in train)


def test_label_ids_are_mapped_to_train_ids(tmp_path: Path) -> None:
    classes = load_class_config()
    folder_i, folder_l = tmp_path / "leftImg8bit" / "val" / "x", tmp_path / "gtFine" / "val" / "x"
    folder_i.mkdir(parents=True)
    folder_l.mkdir(parents=True)
    cv2.imwrite(str(folder_i / "x_0_0_leftImg8bit.png"), np.zeros((2, 3, 3), np.uint8))
    cv2.imwrite(str(folder_l / "x_0_0_gtFine_labelIds.png"), np.array([[7, 26, 0], [33, 4, 23]], np.uint8))
    (sample,) = find_samples(tmp_path, "val")
    assert sample.dataset_ids
    assert read_label(sample, classes).tolist() == [[0, 13, 255], [18, 255, 10]]


def test_image_label_pair_folders(tmp_path: Path) -> None:
    for split in ("train",):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / "images" / "a.jpg"), np.zeros((4, 4, 3), np.uint8))
        cv2.imwrite(str(tmp_path / split / "labels" / "a.png"), np.array([[1, 200], [255, 3]], np.uint8))
    (sample,) = find_samples(tmp_path, "train")
    assert read_label(sample, load_class_config()).tolist() == [[1, 255], [255, 3]]  # 200 is no class: ignore


def test_missing_label_and_unknown_layout_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(LednetError, match=r"a\.png: no label image"):
        find_samples(tmp_path, "train")
    with pytest.raises(LednetError, match="not a dataset"):
        find_samples(tmp_path / "images", "train")
    with pytest.raises(LednetError, match="dataset folder not found"):
        find_samples(tmp_path / "nope", "train")


def test_histogram_counts_every_labelled_pixel(cityscapes_root: Path) -> None:
    samples = find_samples(cityscapes_root, "train")
    histogram = label_histogram(samples, load_class_config())
    assert histogram.sum() == 3 * 64 * 32
    assert histogram[0] > 0 and histogram[10] > 0  # road and sky in every scene


def test_shift_pads_with_black_and_ignore_and_flip_keeps_pairs_aligned() -> None:
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    label = np.arange(48, dtype=np.uint8).reshape(6, 8) % 19
    augmentation = Augmentation((8, 6), flip=True, max_shift=2)
    seen_shift = False
    for seed in range(30):
        out_image, out_label = augmentation(image, label, random.Random(seed))
        padded = out_label == 255
        assert (out_image[padded] == 0).all()
        seen_shift |= bool(padded.any())
        kept = ~padded
        # every kept pixel of the label comes with the matching image pixel
        source = {int(v): tuple(image.reshape(-1, 3)[i]) for i, v in enumerate(np.arange(48))}
        for y, x in zip(*np.nonzero(kept), strict=True):
            index = [i for i in range(48) if (i % 19) == out_label[y, x] and source[i] == tuple(out_image[y, x])]
            assert index, "label and image moved differently"
    assert seen_shift


def test_validation_items_are_resized_only(cityscapes_root: Path) -> None:
    classes = load_class_config()
    samples = find_samples(cityscapes_root, "val")
    dataset = SegmentationDataset(samples, classes, Augmentation((32, 16)), train=False)
    x, y = dataset[0]
    assert x.shape == (3, 16, 32) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert y.shape == (16, 32) and y.dtype.is_floating_point is False
    again, _ = dataset[0]
    assert (again == x).all()
