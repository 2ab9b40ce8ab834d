"""CVAT's "Segmentation mask 1.1" format: pre-annotations out, corrected masks back in as a training set.

The format, as docs.cvat.ai documents it (a custom format on Pascal VOC's
segmentation layout)::

    labelmap.txt                        # label:color_rgb:parts:actions, '#' comments
    ImageSets/Segmentation/default.txt  # image names without extension
    SegmentationClass/NAME.png          # class masks: each pixel the colour of its label
    SegmentationObject/NAME.png         # instance masks (not used here)
    JPEGImages/NAME.jpg                 # the images, in an export "with images"

Masks have 1 or 3 channels. Colours map to classes exactly: a 3-channel
pixel is its RGB colour, a palette PNG's pixel its palette entry, and a
1-channel grey pixel ``v`` the colour ``(v, v, v)``. Black is what CVAT draws
for unlabelled pixels, and the ignore colour here: it means ignore unless
``labelmap.txt`` names a label for it. A colour no label has is ignored and
counted in the import report, never matched to the nearest.

Own code rather than Datumaro: the rules above fit in this module, and
Datumaro (with its native extension, pycocotools, and many more) would add
a heavy dependency to every install and to CI for one format; reading the
archive here also keeps it under this package's user-file limits
(:mod:`lednet_ros.data.archive`: no paths outside, no links, bounded
members, sizes measured while unpacking). A ``labelmap.txt`` over 1 MiB or
with more than 255 labels, and masks or images beyond the frame limits
(:mod:`lednet_ros.limits`, read from their headers) are refused too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from lednet_ros.data.archive import MAX_MEMBER_BYTES, Archive, safe_name
from lednet_ros.errors import LednetError
from lednet_ros.limits import DEFAULT_MAX_PIXELS, check_image_size
from lednet_ros.model.classes import ClassConfig
from lednet_ros.msgs.image_headers import payload_kind, read_header
from lednet_ros.user_files import MAX_CONFIG_BYTES, read_user_file

__all__ = [
    "IMAGE_FOLDERS",
    "LABELMAP",
    "LIST_FILE",
    "MASK_FOLDER",
    "CvatImport",
    "import_cvat",
    "labelmap_text",
    "parse_labelmap",
    "write_cvat",
]

LABELMAP = "labelmap.txt"
MASK_FOLDER = "SegmentationClass"
LIST_FILE = "ImageSets/Segmentation/default.txt"
IMAGE_FOLDERS = ("JPEGImages", "images")
"""Where an archive may hold its images: CVAT's export "with images", or a plain ``images/``."""
BLACK = (0, 0, 0)
MAX_LABELS = 255
IMAGE_KINDS = {"jpeg": ".jpg", "png": ".png"}


def _code(rgb: np.ndarray) -> np.ndarray:
    """24-bit colour codes of an ...x3 array."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _check_distinct_colours(classes: ClassConfig, source: str) -> None:
    seen: dict[tuple[int, int, int], str] = {}
    for name, colour in zip(classes.names, classes.colors, strict=True):
        if colour in seen:
            msg = f"{source}: classes {seen[colour]!r} and {name!r} share the colour {colour}; colours must map to one class"
            raise LednetError(msg)
        seen[colour] = name


def labelmap_text(classes: ClassConfig) -> str:
    """``labelmap.txt`` for ``classes``: one ``name:r,g,b::`` line per class (black, unnamed, stays unlabelled).

    Raises:
        LednetError: two classes share a colour, or a name has a ``:`` or a line break.
    """
    _check_distinct_colours(classes, f"class set {classes.name!r}")
    bad = [n for n in classes.names if ":" in n or "\n" in n or "\r" in n or not n.strip()]
    if bad:
        msg = f"class set {classes.name!r}: class name {bad[0]!r} cannot be a CVAT label (empty, ':' or a line break)"
        raise LednetError(msg)
    lines = ["# label:color_rgb:parts:actions"]
    lines += [f"{name}:{r},{g},{b}::" for name, (r, g, b) in zip(classes.names, classes.colors, strict=True)]
    return "\n".join(lines) + "\n"


def parse_labelmap(text: str, source: str = LABELMAP) -> ClassConfig:
    """The class set ``labelmap.txt`` describes: labels in file order, ignore id 255, black unlabelled unless named.

    Raises:
        LednetError: a malformed line, a colour outside 0..255, two labels of one colour, no label, over 255.
    """
    names: list[str] = []
    colours: list[tuple[int, int, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(names) >= MAX_LABELS:
            msg = f"{source}: more than {MAX_LABELS} labels (8-bit label images hold at most {MAX_LABELS} classes)"
            raise LednetError(msg)
        fields_ = line.split(":")
        try:
            colour = tuple(int(v) for v in fields_[1].split(","))
        except (IndexError, ValueError):
            colour = ()
        if len(fields_) < 2 or len(colour) != 3 or not all(0 <= c <= 255 for c in colour) or not fields_[0].strip():
            msg = f"{source}: line {number} is not 'label:R,G,B:parts:actions': {line[:80]!r}"
            raise LednetError(msg)
        names.append(fields_[0].strip())
        colours.append(colour)  # type: ignore[arg-type]
    if not names:
        msg = f"{source}: no labels"
        raise LednetError(msg)
    classes = ClassConfig(name="cvat", names=tuple(names), colors=tuple(colours))
    _check_distinct_colours(classes, source)
    return classes


def write_cvat(out: Path, classes: ClassConfig, items: Iterable[tuple[str, Path, np.ndarray | Path]]) -> Path:
    """Write an import-ready "Segmentation mask 1.1" folder: ``(name, image file, train ids)`` per image.

    The train ids are an HxW array or an 8-bit label PNG (``segment``'s ``*_labels.png``).

    Ignore (and any value outside the class set) is drawn black, CVAT's unlabelled.

    Raises:
        LednetError: colliding colours, a name CVAT cannot take, or a name given twice.
    """
    text = labelmap_text(classes)
    if BLACK in classes.colors:  # ignore is exported black: it would come back as that class
        msg = f"class set {classes.name!r}: class {classes.names[classes.colors.index(BLACK)]!r} is black, CVAT's unlabelled colour"
        raise LednetError(msg)
    palette = classes.palette()
    palette[classes.num_classes :] = BLACK
    names: list[str] = []
    for name, image, labels in items:
        if name in names or "/" in name or name.startswith("."):
            msg = f"{image}: image name {name!r} is used twice or not a plain file name; CVAT matches masks by name"
            raise LednetError(msg)
        names.append(name)
        if isinstance(labels, Path):
            labels = cv2.imread(str(labels), cv2.IMREAD_UNCHANGED)  # noqa: PLW2901 (the file's ids)
        mask = palette[labels]
        (out / MASK_FOLDER).mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(mask[..., ::-1]))
        if not ok:
            msg = f"{name}: PNG encoding failed"
            raise LednetError(msg)
        (out / MASK_FOLDER / f"{name}.png").write_bytes(encoded.tobytes())
        (out / IMAGE_FOLDERS[0]).mkdir(parents=True, exist_ok=True)
        (out / IMAGE_FOLDERS[0] / f"{name}{image.suffix.lower()}").write_bytes(image.read_bytes())
    (out / LIST_FILE).parent.mkdir(parents=True, exist_ok=True)
    (out / LIST_FILE).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    (out / LABELMAP).write_text(text, encoding="utf-8")
    return out


@dataclass
class CvatImport:
    """What an import wrote, and the pixels whose colour no label has (ignored, never guessed)."""

    out: Path
    classes: ClassConfig
    frames: int = 0
    unknown_pixels: int = 0
    unknown_colours: Counter[str] = field(default_factory=Counter)
    """``"r,g,b"`` -> pixels of that colour."""
    frames_with_unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """``import.json``."""
        return {"out": str(self.out), "classes": list(self.classes.names), "frames": self.frames,
                "unknown_pixels": self.unknown_pixels, "unknown_colours": dict(self.unknown_colours.most_common()),
                "frames_with_unknown": self.frames_with_unknown}  # fmt: skip


def _header(data: bytes, where: str, max_pixels: int | None, kinds: tuple[str, ...]) -> tuple[str, int, int]:
    """(kind, width, height) of an image's bytes, checked against the frame limits before anything is decoded."""
    kind = payload_kind(memoryview(data))
    if kind not in kinds:
        msg = f"{where}: not a {' or '.join(k.upper() for k in kinds)} image"
        raise LednetError(msg)
    try:
        header = read_header(memoryview(data))
        check_image_size(header.width, header.height, max_pixels, "image")
    except LednetError as exc:
        msg = f"{where}: {exc}"
        raise LednetError(msg) from None
    return kind, header.width, header.height


def _mask_ids(data: bytes, where: str, classes: ClassConfig, report: CvatImport) -> np.ndarray:
    """A 1- or 3-channel mask's train ids: exact colours, black unlabelled unless named, other colours ignored and counted."""
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.dtype != np.uint8 or (mask.ndim == 3 and mask.shape[2] != 3):
        msg = f"{where}: a mask must be an 8-bit PNG with 1 or 3 channels"
        raise LednetError(msg)
    rgb = np.repeat(mask[..., None], 3, axis=2) if mask.ndim == 2 else mask[..., ::-1]
    codes = _code(rgb)
    keys = _code(np.asarray(classes.colors, dtype=np.int32))
    order = np.argsort(keys)
    position = np.clip(np.searchsorted(keys[order], codes), 0, len(keys) - 1)
    known = keys[order][position] == codes
    ids = np.where(known, order[position], classes.ignore_id).astype(np.uint8)
    unknown = ~known & (codes != 0)  # unnamed black is CVAT's unlabelled: ignore, not unknown
    if unknown.any():
        values, counts = np.unique(codes[unknown], return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            report.unknown_colours[f"{value >> 16},{(value >> 8) & 255},{value & 255}"] += count
        report.unknown_pixels += int(counts.sum())
        report.frames_with_unknown.append(where)
    return ids


def _names(archive: Archive, root: str) -> list[str]:
    """The images of the export: ``default.txt``'s list, else every mask in ``SegmentationClass``."""
    listed = root + LIST_FILE
    if listed in archive.members:
        text = archive.read(listed, MAX_CONFIG_BYTES * 16).decode("utf-8", errors="replace")
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        prefix = f"{root}{MASK_FOLDER}/"
        names = sorted(n[len(prefix) : -4] for n in archive.members if n.startswith(prefix) and n.endswith(".png"))
    if not names:
        msg = f"{archive.source}: no images listed ({LIST_FILE}) and no masks in {MASK_FOLDER}/"
        raise LednetError(msg)
    return [safe_name(n, str(archive.source)) for n in names]


def _image_bytes(archive: Archive, root: str, name: str, images: Path | None) -> bytes:
    """The image ``name`` from the archive's image folders, else from the folder ``images``."""
    for folder in IMAGE_FOLDERS:
        for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"):
            member = f"{root}{folder}/{name}{suffix}"
            if member in archive.members:
                return archive.read(member)
    if images is not None:
        for candidate in sorted((images / name).parent.glob(f"{PurePosixPath(name).name}.*")):
            if candidate.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                return read_user_file(candidate, "image", MAX_MEMBER_BYTES)
    msg = f"{archive.source}: no image for {name!r} in {' or '.join(IMAGE_FOLDERS)}/" + (
        f" or {images}" if images else ""
    )
    raise LednetError(msg)


def import_cvat(source: Path, out: Path, *, images: Path | None = None,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> CvatImport:  # fmt: skip
    """A CVAT "Segmentation mask 1.1" export (zip or folder) as a training set in ``out``.

    Writes ``images/NAME.jpg|png`` and ``labels/NAME.png`` (train ids, 255 =
    ignore; ``find_samples`` reads this layout for every split),
    ``classes.yaml`` (the class set of ``labelmap.txt``) and ``import.json``.
    Images come from the archive (``JPEGImages/`` or ``images/``) or from ``images``.

    Raises:
        LednetError: a hostile or malformed archive, a missing mask or image, colliding colours (one line).
    """
    import yaml  # noqa: PLC0415 (keep module import cheap)

    archive = Archive(Path(source))
    try:
        roots = sorted((n[: -len(LABELMAP)] for n in archive.members if n == LABELMAP or n.endswith("/" + LABELMAP)),
                       key=len)  # fmt: skip
        if not roots:
            msg = f"{source}: no {LABELMAP}: export from CVAT as 'Segmentation mask 1.1'"
            raise LednetError(msg)
        root = roots[0]
        where = f"{source}: {root}{LABELMAP}"
        try:
            text = archive.read(root + LABELMAP, MAX_CONFIG_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            text = "\0"
        classes = parse_labelmap(text, where)
        report = CvatImport(Path(out), classes)
        for name in _names(archive, root):
            _import_one(archive, root, name, images, max_pixels, report)
    finally:
        archive.close()
    (report.out / "classes.yaml").write_text(yaml.safe_dump(classes.to_dict(), sort_keys=False), encoding="utf-8")
    (report.out / "import.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def _import_one(archive: Archive, root: str, name: str, images: Path | None, max_pixels: int | None,
                report: CvatImport) -> None:  # fmt: skip
    """One image and its mask into ``report.out``."""
    mask_member = f"{root}{MASK_FOLDER}/{name}.png"
    if mask_member not in archive.members:
        msg = f"{archive.source}: {name!r} is listed but {mask_member} is missing"
        raise LednetError(msg)
    mask_data = archive.read(mask_member)
    where = f"{archive.source}: {mask_member}"
    _, width, height = _header(mask_data, where, max_pixels, ("png",))
    image = _image_bytes(archive, root, name, images)
    kind, image_width, image_height = _header(image, f"{archive.source}: image {name!r}", max_pixels, ("jpeg", "png"))
    if (image_width, image_height) != (width, height):
        msg = f"{where}: mask is {width}x{height} but its image is {image_width}x{image_height}"
        raise LednetError(msg)
    ids = _mask_ids(mask_data, where, report.classes, report)
    flat = name.replace("/", "__")
    (report.out / "images").mkdir(parents=True, exist_ok=True)
    (report.out / "images" / f"{flat}{IMAGE_KINDS[kind]}").write_bytes(image)
    (report.out / "labels").mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", ids)
    if not ok:
        msg = f"{where}: PNG encoding failed"
        raise LednetError(msg)
    (report.out / "labels" / f"{flat}.png").write_bytes(encoded.tobytes())
    report.frames += 1
