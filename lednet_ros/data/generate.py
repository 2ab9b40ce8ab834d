"""Synthetic datasets and drive bags made of :mod:`lednet_ros.data.synthetic` street scenes.

:func:`generate_dataset` writes scenes in the Cityscapes directory layout:
``OUT/leftImg8bit/<split>/<city>/<city>_SSSSSS_NNNNNN_leftImg8bit.png``,
``OUT/gtFine/<split>/<city>/..._gtFine_labelTrainIds.png`` (train ids) and
``..._gtFine_color.png`` (for looking at). With ``bag=True``, also a rosbag2 at
``OUT/bag`` with, per frame and with the same header stamp:
``/camera/image_raw`` (``sensor_msgs/Image``, bgr8), ``/camera/labels``
(mono8 train ids) and ``/camera/camera_info``, at ``fps``, and the aligned
depth the scene geometry gives: ``/camera/depth/image`` (16UC1 millimetres
along the optical axis, 0 where there is no return: sky, or beyond 65.535 m)
with ``/camera/depth/camera_info`` (the same camera: the depth is registered
to the colour image, as an RGB-D driver's aligned output).

Frame ``i`` of seed ``S`` is the same whatever the number of frames is, so a
larger set extends a smaller one; another seed gives a disjoint split.
"""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lednet_ros.data.bags import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_DEPTH_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    BagWriter,
)
from lednet_ros.data.image_files import write_png
from lednet_ros.data.synthetic import SCENE_VERSION, classes_drawn, street_scene
from lednet_ros.errors import LednetError
from lednet_ros.model.classes import load_class_config
from lednet_ros.user_files import read_user_file

__all__ = [
    "CAMERA_FRAME",
    "START_STAMP_NS",
    "SUMMARY_FILE",
    "depth_millimetres",
    "drive_is_current",
    "frame_seed",
    "generate_dataset",
    "generate_drive",
]

CAMERA_FRAME = "camera_optical_frame"
START_STAMP_NS = 1_700_000_000 * 1_000_000_000
SUMMARY_FILE = "synth.json"
"""What :func:`generate_dataset` made, next to it, so a later run can tell whether it is still what it wants."""
DRIVE_SPLIT = "demo"


def depth_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Metres (inf: no return) -> uint16 millimetres, 0 where there is no return or it does not fit (> 65.535 m)."""
    millimetres = np.round(depth_m * 1000.0)
    return np.where(np.isfinite(millimetres) & (millimetres <= 65535), millimetres, 0).astype(np.uint16)


def frame_seed(seed: int, index: int) -> int:
    """Scene seed of frame ``index`` in a set made with ``seed`` (independent streams per frame)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def generate_dataset(out: Path, frames: int, *, seed: int = 0, size: tuple[int, int] = (1024, 512),
                     split: str = "train", city: str = "synth", bag: bool = False, storage: str = "sqlite3",
                     fps: float = 10.0, version: int = SCENE_VERSION, progress: bool = True) -> dict[str, object]:  # fmt: skip
    """Generate the dataset (and bag) with scene generator ``version``; return a summary, also in ``OUT/synth.json``.

    Raises:
        LednetError: ``OUT/bag`` exists already, or the storage is unknown.
    """
    classes = load_class_config()
    palette = classes.palette()
    image_dir = out / "leftImg8bit" / split / city
    label_dir = out / "gtFine" / split / city
    counts = np.zeros(256, dtype=np.int64)
    writer = BagWriter(out / "bag", storage) if bag else None
    period_ns = round(1e9 / fps)
    with writer if writer is not None else nullcontext():
        for index in tqdm(range(frames), desc="generating", unit="frame", disable=not progress or None):
            frame = street_scene(*size, seed=frame_seed(seed, index), version=version)
            name = f"{city}_{seed:06d}_{index:06d}"
            write_png(image_dir / f"{name}_leftImg8bit.png", frame.image)
            write_png(label_dir / f"{name}_gtFine_labelTrainIds.png", frame.labels)
            write_png(label_dir / f"{name}_gtFine_color.png", palette[frame.labels])
            counts += np.bincount(frame.labels.ravel(), minlength=256)
            if writer is not None:
                stamp = START_STAMP_NS + index * period_ns
                writer.write_image(DEFAULT_IMAGE_TOPIC, frame.image[..., ::-1], "bgr8", stamp, CAMERA_FRAME)
                writer.write_image(DEFAULT_LABEL_TOPIC, frame.labels, "mono8", stamp, CAMERA_FRAME)
                writer.write_camera_info(DEFAULT_CAMERA_INFO_TOPIC, frame.camera, stamp, CAMERA_FRAME)
                writer.write_image(DEFAULT_DEPTH_TOPIC, depth_millimetres(frame.depth), "16UC1", stamp, CAMERA_FRAME)
                writer.write_camera_info(DEFAULT_DEPTH_INFO_TOPIC, frame.camera, stamp, CAMERA_FRAME)
    total = counts[: classes.num_classes].sum()
    summary = {
        "frames": frames, "seed": seed, "size": list(size), "split": split, "city": city, "scene_version": version,
        "bag": str(out / "bag") if bag else None, "storage": storage if bag else None, "fps": fps if bag else None,
        "class_share": {classes.names[i]: round(float(counts[i] / total), 5) for i in range(classes.num_classes)},
        "classes_never_drawn": [classes.names[i] for i in range(classes.num_classes) if i not in classes_drawn(version)],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def drive_is_current(folder: Path, frames: int, *, seed: int, size: tuple[int, int]) -> bool:
    """Whether ``folder`` holds a drive bag made with these settings (generating one takes a while)."""
    summary_file = folder / SUMMARY_FILE
    try:
        summary = json.loads(read_user_file(summary_file, "drive summary")) if summary_file.is_file() else {}
    except (LednetError, ValueError):  # unreadable, oversized or not JSON: generate the drive again
        summary = {}
    if not isinstance(summary, dict):
        summary = {}
    wanted = {"frames": frames, "size": list(size), "seed": seed, "scene_version": SCENE_VERSION}
    return {key: summary.get(key) for key in wanted} == wanted and (folder / "bag").is_dir()


def generate_drive(folder: Path, frames: int, *, seed: int, size: tuple[int, int]) -> Path:
    """A new drive in ``folder`` (whatever was there is removed); returns its bag folder."""
    if folder.exists():
        shutil.rmtree(folder)
    generate_dataset(folder, frames, seed=seed, size=size, split=DRIVE_SPLIT, bag=True)
    return folder / "bag"
