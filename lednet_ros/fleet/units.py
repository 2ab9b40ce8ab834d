"""Finding a fleet's bags and cutting them into work units.

A unit is one camera of one bag, or a time slice of it when the bag is long,
so one huge bag never serialises the job nor ties a worker up for hours.
Planning reads only each bag's index (message counts, first and last
receive time), never its messages. A bag that cannot even be opened is
planned as a failed unit: the rest of the fleet goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from lednet_ros.data.bags import IMAGE_TYPES, open_bag
from lednet_ros.errors import LednetError

__all__ = [
    "ALL_CAMERAS",
    "DEFAULT_SLICE_FRAMES",
    "STATUS_FAILED",
    "STATUS_NO_IMAGES",
    "STATUS_NO_LABELS",
    "STATUS_OK",
    "Camera",
    "Unit",
    "bag_fingerprint",
    "find_bags",
    "plan_units",
    "unit_key",
]

DEFAULT_SLICE_FRAMES = 3000
"""Images per unit before a bag is sliced: 5 minutes of 10 Hz video, a few minutes of a CPU worker's time.

A slice is a window of receive times: an image and its label that straddle
a boundary count as unpaired in the two slices, so slices are kept long.
"""

ALL_CAMERAS = "all"
"""As the image topic: every image topic of a bag that has a label partner (:func:`_paired`)."""
LABELS_NAME = "labels"
STATUS_OK = "ok"
STATUS_NO_LABELS = "no labels"
STATUS_NO_IMAGES = "no images"
STATUS_FAILED = "failed"


@dataclass(frozen=True)
class Camera:
    """An image topic and its ground truth (empty for labelling, which needs none)."""

    image_topic: str
    label_topic: str = ""


@dataclass(frozen=True)
class Unit:
    """One piece of work: a camera of a bag, whole or a window of receive times ``[start_ns, stop_ns)``."""

    bag: str
    camera: Camera
    part: int = 0
    parts: int = 1
    start_ns: int | None = None
    stop_ns: int | None = None
    frames: int = 0
    """Image messages in the bag's index for this unit (the whole bag's divided by ``parts`` for a slice)."""
    status: str = ""
    """Set when planning already knows the outcome: ``no labels``, ``no images`` or ``failed``."""
    reason: str = ""

    @property
    def name(self) -> str:
        """For reports: the bag, the camera and the slice."""
        part = f" [{self.part + 1}/{self.parts}]" if self.parts > 1 else ""
        return f"{self.bag} {self.camera.image_topic}{part}"


def _is_bag(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file()


def find_bags(paths: list[Path]) -> list[Path]:
    """Every bag named or found under the folders named (a folder with ``metadata.yaml``), sorted, no duplicates.

    Raises:
        LednetError: a path does not exist or holds no bag.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            msg = f"{path}: no such bag or folder"
            raise LednetError(msg)
        if path.is_file() and _is_bag(path.parent):  # a bag's .db3/.mcap file
            found.append(path.parent.resolve())
        elif _is_bag(path):
            found.append(path.resolve())
        else:
            inside = sorted(m.parent.resolve() for m in path.rglob("metadata.yaml"))
            if not inside:
                msg = f"{path}: no rosbag2 (a folder with metadata.yaml) in it"
                raise LednetError(msg)
            found += inside
    return sorted(dict.fromkeys(found))


def _windows(start: int, stop: int, parts: int) -> list[tuple[int | None, int | None]]:
    if parts == 1:
        return [(None, None)]  # exactly what single-process evaluate reads
    edges = [start + (stop - start) * k // parts for k in range(parts + 1)]
    return [(edges[k], edges[k + 1]) for k in range(parts)]


def _plan_bag(bag: Path, cameras: list[Camera], slice_frames: int) -> list[Unit]:
    try:
        reader = open_bag(bag)
    except Exception as exc:  # an unreadable bag is one failed unit, never the end of the job
        return [Unit(str(bag), cameras[0], status=STATUS_FAILED, reason=str(exc))]
    try:
        types = {c.topic: c.msgtype for c in reader.connections}
        counts: dict[str, int] = {}
        for connection in reader.connections:
            counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
        start, stop = int(reader.start_time), int(reader.end_time) + 1
    finally:
        reader.close()
    units = []
    for camera in _paired(cameras, types):
        frames = counts.get(camera.image_topic, 0)
        problem = _camera_problem(types, camera)
        if problem:
            units.append(Unit(str(bag), camera, frames=frames, status=problem[0], reason=problem[1]))
            continue
        parts = max(1, math.ceil(frames / slice_frames))
        units += [
            Unit(str(bag), camera, k, parts, a, b, frames // parts + (1 if k < frames % parts else 0))
            for k, (a, b) in enumerate(_windows(start, stop, parts))
        ]  # fmt: skip
    return units


def _paired(cameras: list[Camera], types: dict[str, str]) -> list[Camera]:
    """The cameras asked for; :data:`ALL_CAMERAS` stands for every image topic of the bag with a label partner.

    An image topic is one whose last name starts with ``image`` (``image_raw``, ``image_rect`` ...); its
    partner is ``<namespace>/labels`` next to it (``/front/labels`` for ``/front/image_raw``), the naming
    ``lednet-ros synth --bag`` and the defaults use.
    """
    found = []
    for camera in cameras:
        if camera.image_topic != ALL_CAMERAS:
            found.append(camera)
            continue
        for topic in sorted(t for t, kind in types.items() if kind in IMAGE_TYPES):
            namespace, _, name = topic.rpartition("/")
            partner = f"{namespace}/{LABELS_NAME}"
            if name.startswith("image") and types.get(partner) in IMAGE_TYPES:
                found.append(Camera(topic, partner))
    return found


def _camera_problem(types: dict[str, str], camera: Camera) -> tuple[str, str] | None:
    if camera.image_topic not in types:
        return STATUS_NO_IMAGES, f"no topic {camera.image_topic}"
    for topic in filter(None, (camera.image_topic, camera.label_topic)):
        if topic in types and types[topic] not in IMAGE_TYPES:
            return STATUS_FAILED, f"topic {topic} holds {types[topic]}, not an image"
    if camera.label_topic and camera.label_topic not in types:
        return STATUS_NO_LABELS, f"no topic {camera.label_topic}"
    return None


def plan_units(bags: list[Path], cameras: list[Camera], slice_frames: int = DEFAULT_SLICE_FRAMES) -> list[Unit]:
    """The units of every bag and camera, in bag order."""
    return [unit for bag in bags for unit in _plan_bag(bag, cameras, slice_frames)]


def bag_fingerprint(bag: str | Path) -> dict[str, object]:
    """The bag's path, total size and newest mtime: a changed or rewritten bag gets new results."""
    path = Path(bag)
    files = [f for f in path.iterdir() if f.is_file()] if path.is_dir() else [path]
    stats = [f.stat() for f in files]
    return {
        "path": str(path.resolve()),
        "size": sum(s.st_size for s in stats),
        "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
    }


def unit_key(unit: Unit, job: dict[str, object]) -> str:
    """What a unit's result depends on, hashed: the bag's fingerprint, the unit, the weights' sha256 and the options.

    ``job`` holds the rest (the job kind, the weights' digest, the engine and pairing options).
    """
    try:
        bag: dict[str, object] = bag_fingerprint(unit.bag)
    except OSError:
        bag = {"path": unit.bag}
    fields = {k: v for k, v in asdict(unit).items() if k not in {"bag", "status", "reason", "frames"}}
    text = json.dumps({"bag": bag, "unit": fields, "job": job}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
