"""``lednet-ros synth``: generate a synthetic street dataset, and optionally a bag.

Writes ``--frames`` scenes in the Cityscapes directory layout:
``OUT/leftImg8bit/<split>/<city>/<city>_000000_NNNNNN_leftImg8bit.png``,
``OUT/gtFine/<split>/<city>/..._gtFine_labelTrainIds.png`` (train ids) and
``..._gtFine_color.png`` (for looking at). With ``--bag``, also a rosbag2 at
``OUT/bag`` (``--storage sqlite3`` or ``mcap``) with, per frame and with the
same header stamp: ``/camera/image_raw`` (``sensor_msgs/Image``, bgr8),
``/camera/labels`` (mono8 train ids) and ``/camera/camera_info``, at ``--fps``,
and the aligned depth the scene geometry gives: ``/camera/depth/image``
(16UC1 millimetres along the optical axis, 0 where there is no return: sky,
or beyond 65.535 m) with ``/camera/depth/camera_info`` (the same camera: the
depth is registered to the colour image, as an RGB-D driver's aligned output).

Frame ``i`` of seed ``S`` is the same whatever ``--frames`` is, so a larger
set extends a smaller one; use another ``--seed`` for a disjoint split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lednet_ros.commands.args import run_guarded
from lednet_ros.data.bags import STORAGE_PLUGINS, BagWriter
from lednet_ros.data.image_files import write_png
from lednet_ros.data.synthetic import CLASSES_NEVER_DRAWN, street_scene
from lednet_ros.inference.options import parse_size
from lednet_ros.model.classes import load_class_config

__all__ = ["depth_millimetres", "frame_seed", "main", "run"]

PROG = "lednet-ros synth"
CAMERA_FRAME = "camera_optical_frame"
START_STAMP_NS = 1_700_000_000 * 1_000_000_000


def depth_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Metres (inf: no return) -> uint16 millimetres, 0 where there is no return or it does not fit (> 65.535 m)."""
    millimetres = np.round(depth_m * 1000.0)
    return np.where(np.isfinite(millimetres) & (millimetres <= 65535), millimetres, 0).astype(np.uint16)


def frame_seed(seed: int, index: int) -> int:
    """Scene seed of frame ``index`` in a set made with ``seed`` (independent streams per frame)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def run(out: Path, frames: int, *, seed: int = 0, size: tuple[int, int] = (1024, 512), split: str = "train",
        city: str = "synth", bag: bool = False, storage: str = "sqlite3", fps: float = 10.0,
        progress: bool = True) -> dict[str, object]:  # fmt: skip
    """Generate the dataset (and bag); return a summary that is also written to ``OUT/synth.json``."""
    classes = load_class_config()
    palette = classes.palette()
    image_dir = out / "leftImg8bit" / split / city
    label_dir = out / "gtFine" / split / city
    counts = np.zeros(256, dtype=np.int64)
    writer = BagWriter(out / "bag", storage) if bag else None
    period_ns = round(1e9 / fps)
    with writer if writer is not None else _NoBag():
        for index in tqdm(range(frames), desc="generating", unit="frame", disable=not progress or None):
            frame = street_scene(*size, seed=frame_seed(seed, index))
            name = f"{city}_{seed:06d}_{index:06d}"
            write_png(image_dir / f"{name}_leftImg8bit.png", frame.image)
            write_png(label_dir / f"{name}_gtFine_labelTrainIds.png", frame.labels)
            write_png(label_dir / f"{name}_gtFine_color.png", palette[frame.labels])
            counts += np.bincount(frame.labels.ravel(), minlength=256)
            if writer is not None:
                stamp = START_STAMP_NS + index * period_ns
                writer.write_image("/camera/image_raw", frame.image[..., ::-1], "bgr8", stamp, CAMERA_FRAME)
                writer.write_image("/camera/labels", frame.labels, "mono8", stamp, CAMERA_FRAME)
                writer.write_camera_info("/camera/camera_info", frame.camera, stamp, CAMERA_FRAME)
                writer.write_image("/camera/depth/image", depth_millimetres(frame.depth), "16UC1", stamp, CAMERA_FRAME)
                writer.write_camera_info("/camera/depth/camera_info", frame.camera, stamp, CAMERA_FRAME)
    total = counts[: classes.num_classes].sum()
    summary = {
        "frames": frames, "seed": seed, "size": list(size), "split": split, "city": city,
        "bag": str(out / "bag") if bag else None, "storage": storage if bag else None, "fps": fps if bag else None,
        "class_share": {classes.names[i]: round(float(counts[i] / total), 5) for i in range(classes.num_classes)},
        "classes_never_drawn": [classes.names[i] for i in CLASSES_NEVER_DRAWN],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


class _NoBag:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros synth``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate synthetic street scenes with exact labels (Cityscapes layout, optional rosbag2).",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--frames", type=int, default=200, help="number of frames (default: 200)")
    parser.add_argument(
        "--seed", type=int, default=0, help="dataset seed; another seed gives a disjoint set (default: 0)"
    )
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--split", default="train", help="split folder name (default: train)")
    parser.add_argument("--city", default="synth", help="city folder name (default: synth)")
    parser.add_argument("--bag", action="store_true", help="also write a rosbag2 at OUT/bag")
    parser.add_argument(
        "--storage", choices=sorted(STORAGE_PLUGINS), default="sqlite3", help="bag storage (default: sqlite3)"
    )
    parser.add_argument("--fps", type=float, default=10.0, help="bag frame rate (default: 10)")
    args = parser.parse_args(argv)
    size = parse_size(f"{args.width}x{args.height}") if args.width >= 16 and args.height >= 16 else None
    if size is None or args.frames < 1 or args.fps <= 0:
        parser.error("--width and --height must be at least 16, --frames at least 1, --fps positive")

    def body() -> int:
        summary = run(args.out, args.frames, seed=args.seed, size=size, split=args.split, city=args.city,
                      bag=args.bag, storage=args.storage, fps=args.fps)  # fmt: skip
        print(f"wrote {args.frames} frames to {args.out}" + (f" and the bag {summary['bag']}" if args.bag else ""))
        print(f"classes never drawn: {', '.join(summary['classes_never_drawn'])}")  # type: ignore[arg-type]
        return 0

    return run_guarded(PROG, body)
