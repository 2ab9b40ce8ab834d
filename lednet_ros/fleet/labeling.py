"""Pre-labelling a unit: the node's outputs for every image, as a new MCAP bag, optionally as Cityscapes files.

For every image of the unit's camera it writes, with the input's header
(stamp and frame id), what ``segmentation_node`` publishes for it:
``<camera>/segmentation/labels`` (mono8 train ids) and
``<camera>/segmentation/confidence`` (mono8, probability x 255), where
``<camera>`` is the image topic's namespace (``/front`` for
``/front/image_raw``). The bag goes under the output folder at the input
bag's path relative to the folder it was found in, so it plays alongside the
original in rviz2 or Foxglove. A slice of a long bag writes its own bag,
``NAME.partKofN``. With ``cityscapes`` the frames also go to
``leftImg8bit/<split>/<bag>/`` and ``gtFine/<split>/<bag>/``, the layout
``lednet-ros train`` reads. With ``hardest`` the unit keeps its N most
doubtful frames (:mod:`lednet_ros.fleet.mining`) as candidate files.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from lednet_ros.data.bags import BagWriter, decode_message, open_bag
from lednet_ros.errors import ImageTooLargeError
from lednet_ros.fleet.mining import CANDIDATES, Hardest, doubt
from lednet_ros.fleet.units import STATUS_OK, Unit
from lednet_ros.fleet.work import failed_result, unit_fields
from lednet_ros.msgs.stamps import header_stamp_ns

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine
    from lednet_ros.msgs.image import DecodedImage

__all__ = ["LabelJob", "output_topics"]


def output_topics(image_topic: str) -> tuple[str, str]:
    """The labels and confidence topics of a camera, in the image topic's namespace, as the node names them."""
    namespace = image_topic.rstrip("/").rpartition("/")[0]
    return f"{namespace}/segmentation/labels", f"{namespace}/segmentation/confidence"


def _frames(unit: Unit, max_pixels: int | None, counts: dict[str, int]) -> Iterator[tuple[int, str, DecodedImage]]:
    """(header stamp, frame id, pixels) of the unit's images, one at a time; bad ones counted in ``counts``."""
    reader = open_bag(Path(unit.bag))
    try:
        connections = [c for c in reader.connections if c.topic == unit.camera.image_topic]
        for connection, _, raw in reader.messages(connections=connections, start=unit.start_ns, stop=unit.stop_ns):
            try:
                message = reader.deserialize(raw, connection.msgtype)
                decoded = decode_message(message, connection.msgtype, max_pixels=max_pixels)
            except ImageTooLargeError:
                counts["rejected_frames"] += 1
                continue
            except Exception:  # a corrupt message is skipped and counted, as evaluate does
                counts["corrupt_messages"] += 1
                continue
            yield header_stamp_ns(message.header), str(message.header.frame_id), decoded
    finally:
        reader.close()


@dataclass(frozen=True)
class LabelJob:
    """Label a unit's images; see the module's description."""

    out: str
    destinations: dict[str, str] = field(hash=False)
    """Input bag -> its path relative to the output folder (the inputs' folder tree, mirrored)."""
    cityscapes: bool = False
    split: str = "train"
    hardest: int = 0
    max_pixels: int | None = None
    needs_engine: bool = True

    def describe(self) -> dict[str, object]:
        """Where and what it writes."""
        return {"kind": "label", "out": self.out, "cityscapes": self.cityscapes, "split": self.split,
                "hardest": self.hardest, "max_pixels": self.max_pixels}  # fmt: skip

    def bag_path(self, unit: Unit) -> Path:
        """The output bag of a unit."""
        relative = self.destinations.get(unit.bag, Path(unit.bag).name)
        suffix = f".part{unit.part + 1}of{unit.parts}" if unit.parts > 1 else ""
        camera = unit.camera.image_topic.strip("/").replace("/", "_")
        return Path(self.out) / "bags" / f"{relative}{suffix}" / camera

    def __call__(self, engine: SegmentationEngine | None, unit: Unit) -> dict[str, Any]:
        """Write the unit's outputs; its result counts them and lists its hardest frames."""
        if unit.status:
            return failed_result(unit, unit.reason, unit.status)
        assert engine is not None
        start = time.perf_counter()
        target = self.bag_path(unit)
        shutil.rmtree(target, ignore_errors=True)  # what an interrupted run of this unit left
        counts = {"frames": 0, "corrupt_messages": 0, "rejected_frames": 0}
        hardest = Hardest(self.hardest)
        kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with BagWriter(target, "mcap") as bag:
                for stamp, frame_id, image in _frames(unit, self.max_pixels, counts):
                    self._label(engine, bag, unit, (stamp, frame_id, image), hardest, kept)
                    counts["frames"] += 1
        except Exception as exc:  # a truncated or corrupt bag fails its unit only
            return failed_result(unit, f"{type(exc).__name__}: {exc}")
        problems = [f"{counts[k]} {k.replace('_', ' ')} skipped" for k in ("rejected_frames", "corrupt_messages")
                    if counts[k]]  # fmt: skip
        return {
            **unit_fields(unit), **counts, "status": "incomplete" if problems else STATUS_OK,
            "reason": "; ".join(problems), "output": str(target),
            "hardest": self._write_candidates(unit, hardest, kept), "seconds": round(time.perf_counter() - start, 3),
        }  # fmt: skip

    def _label(self, engine: SegmentationEngine, bag: BagWriter, unit: Unit, frame: tuple[int, str, DecodedImage],
               hardest: Hardest, kept: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:  # fmt: skip
        stamp, frame_id, image = frame
        order = "bgr" if image.order == "bgr" else "rgb"
        result = engine.infer(np.ascontiguousarray(image.pixels), order=order, confidence=True)
        assert result.confidence is not None
        labels_topic, confidence_topic = output_topics(unit.camera.image_topic)
        bag.write_image(labels_topic, result.labels, "mono8", stamp, frame_id)
        bag.write_image(confidence_topic, result.confidence, "mono8", stamp, frame_id)
        rgb = image.rgb() if self.cityscapes or self.hardest else None
        if self.cityscapes:
            self._write_cityscapes(unit, stamp, rgb, result.labels)
        if self.hardest:
            record = {"bag": unit.bag, "topic": unit.camera.image_topic, "stamp": stamp,
                      "score": doubt(result.confidence)}  # fmt: skip
            kept[stamp] = (rgb, result.labels)
            pushed_out = hardest.offer(record)
            if pushed_out is not None:
                kept.pop(pushed_out["stamp"], None)

    def _write_cityscapes(self, unit: Unit, stamp: int, rgb: np.ndarray, labels: np.ndarray) -> None:
        name = str(self.destinations.get(unit.bag, Path(unit.bag).name)).replace("/", "_")
        name += "_" + unit.camera.image_topic.strip("/").replace("/", "_")
        root = Path(self.out) / "cityscapes"
        images = root / "leftImg8bit" / self.split / name
        truth = root / "gtFine" / self.split / name
        images.mkdir(parents=True, exist_ok=True)
        truth.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / f"{name}_{stamp}_leftImg8bit.png"), rgb[..., ::-1])
        cv2.imwrite(str(truth / f"{name}_{stamp}_gtFine_labelTrainIds.png"), labels)

    def _write_candidates(self, unit: Unit, hardest: Hardest,
                          kept: dict[int, tuple[np.ndarray, np.ndarray]]) -> list[dict[str, Any]]:  # fmt: skip
        folder = Path(self.out) / "hardest" / CANDIDATES / self.bag_path(unit).relative_to(Path(self.out) / "bags")
        records = []
        for record in hardest.records():
            rgb, labels = kept[record["stamp"]]
            folder.mkdir(parents=True, exist_ok=True)
            image, truth = folder / f"{record['stamp']}.png", folder / f"{record['stamp']}_labels.png"
            cv2.imwrite(str(image), rgb[..., ::-1])
            cv2.imwrite(str(truth), labels)
            records.append({**record, "image": str(image), "labels": str(truth)})
        return records
