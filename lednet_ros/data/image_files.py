"""Reading and writing image files for the command-line tools.

OpenCV stores pixels as BGR; everything in this package is RGB, so the
conversion happens here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lednet_ros.errors import ImageEncodingError, LednetError
from lednet_ros.limits import check_image_size
from lednet_ros.msgs.image_headers import payload_kind, read_header

__all__ = ["IMAGE_SUFFIXES", "collect_images", "read_rgb", "write_png"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})


def collect_images(paths: list[Path]) -> list[tuple[Path, Path]]:
    """Expand files and folders into ``(image file, output stem)`` pairs.

    A folder contributes every image below it (hidden folders such as
    ``.venv`` or ``.git`` are skipped), and its output stems keep the
    sub-folder structure, so two ``frame_0001.png`` in different folders never
    overwrite each other.

    Raises:
        FileNotFoundError: a path does not exist.
        LednetError: two inputs would write the same outputs.
    """
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in file.relative_to(path).parts)
                if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file() and not hidden:
                    found.append((file, file.relative_to(path).with_suffix("")))
        elif path.is_file():
            found.append((path, Path(path.stem)))
        else:
            msg = f"{path}: no such file or folder"
            raise FileNotFoundError(msg)
    owners: dict[Path, Path] = {}
    for file, stem in found:
        if stem in owners and owners[stem] != file:
            msg = f"{owners[stem]} and {file} would both write {stem}_*.png; segment them into separate --out folders"
            raise LednetError(msg)
        owners[stem] = file
    return list(dict.fromkeys(found))


def read_rgb(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey and 16-bit images are converted).

    With ``max_pixels`` the size is read from the file's header first and
    checked as the node checks a frame (:func:`~lednet_ros.limits.check_image_size`),
    so a small file that describes a huge image is refused before OpenCV
    allocates for it (a 0.8 MB PNG of 16384 x 16384 took 4.2 GB, issue 17).

    Raises:
        ImageEncodingError: the file cannot be decoded as an image, or is too large.
    """
    data = np.fromfile(path, dtype=np.uint8)
    if max_pixels is not None and data.size:
        width, height = _header_size(path, data)
        try:
            check_image_size(width, height, max_pixels)
        except ImageEncodingError as exc:
            msg = f"{path}: {exc}"
            raise ImageEncodingError(msg) from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # OpenCV's own pixel limit
        image = None
    if image is None:
        msg = f"{path}: not a readable image"
        raise ImageEncodingError(msg)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _header_size(path: Path, data: np.ndarray) -> tuple[int, int]:
    """(width, height) from the header: JPEG and PNG by this package's reader, other formats by Pillow's lazy open.

    Raises:
        ImageEncodingError: no readable header.
    """
    if payload_kind(memoryview(data)) is not None:
        try:
            header = read_header(memoryview(data))
        except ImageEncodingError as exc:
            msg = f"{path}: not a readable image ({exc})"
            raise ImageEncodingError(msg) from None
        return header.width, header.height
    from PIL import Image as PilImage  # noqa: PLC0415 (Pillow comes with matplotlib)

    try:
        with PilImage.open(path) as image:  # reads the header only
            return image.size
    except Exception as exc:  # Pillow raises many kinds; any means the header is not readable
        msg = f"{path}: not a readable image ({type(exc).__name__})"
        raise ImageEncodingError(msg) from None


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an HxW (grey/labels) or HxWx3 RGB uint8 array as PNG, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        msg = f"{path}: PNG encoding failed for an array of shape {image.shape}"
        raise ImageEncodingError(msg)
    path.write_bytes(encoded.tobytes())
    return path
