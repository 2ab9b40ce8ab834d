"""Semantic point clouds: an aligned depth image back-projected, each point carrying its class.

rclpy-free: the node fills a ``sensor_msgs/PointCloud2`` from what this
module returns (:func:`cloud_fields` of :data:`POINT_DTYPE` records, and
:data:`POINT_FIELDS`), and tests read it back with ``sensor_msgs_py.point_cloud2.read_points`` or its
PyPI port ``pointcloud2``.

Geometry follows REP-103's optical frame, as the depth camera's
``camera_info`` describes it: x right, y down, z forward, metres. A pixel
(u, v) with depth z becomes ((u - cx) z / fx, (v - cy) z / fy, z). Depth
pixels that are 0, NaN or infinite (no return) never become points.

Two layouts (:data:`CLOUD_LAYOUTS`). ``packed`` (:func:`semantic_cloud`)
keeps only the valid points, one row, dense: the smallest message, what
rviz2 and PCL users expect. ``organized`` (:func:`organized_cloud`) keeps
one point per depth pixel, or per ``stride`` cell, in the grid's rows and
columns, with NaN x, y, z where the depth is invalid: point i is pixel i of
the grid, which is what Nav2's semantic segmentation layer needs (it walks
the mask and the cloud together). :func:`to_cloud_grid` resamples a mask or
confidence image to that grid, so all three have the same size.

The point layout is the one rviz2 and PCL read: x, y, z as float32 at bytes
0, 4, 8; rgb at 12 as a float32 whose bits are 0x00RRGGBB (rviz2's "RGB8"
colour transformer); label at 16 as uint8 (the train id); 20 bytes per point
(the label padded to a 4-byte boundary, like PCL's point types).
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.image import check_image_shape, image_rows

__all__ = [
    "CLOUD_LAYOUTS",
    "DEPTH_ENCODINGS",
    "POINT_DTYPE",
    "POINT_FIELDS",
    "Intrinsics",
    "cloud_fields",
    "cloud_grid",
    "decode_depth",
    "depth_in_metres",
    "nearest_pixels",
    "organized_cloud",
    "pack_rgb",
    "semantic_cloud",
    "to_cloud_grid",
]

POINT_DTYPE = np.dtype({
    "names": ["x", "y", "z", "rgb", "label"],
    "formats": ["<f4", "<f4", "<f4", "<f4", "u1"],
    "offsets": [0, 4, 8, 12, 16],
    "itemsize": 20,
})  # fmt: skip
"""One point of the cloud, as it lies in ``PointCloud2.data`` (little-endian)."""

_FLOAT32, _UINT8 = 7, 2  # sensor_msgs/PointField datatypes
POINT_FIELDS: tuple[tuple[str, int, int, int], ...] = (
    ("x", 0, _FLOAT32, 1),
    ("y", 4, _FLOAT32, 1),
    ("z", 8, _FLOAT32, 1),
    ("rgb", 12, _FLOAT32, 1),
    ("label", 16, _UINT8, 1),
)
"""(name, offset, datatype, count) of each ``sensor_msgs/PointField``, matching :data:`POINT_DTYPE`."""

CLOUD_LAYOUTS = ("packed", "organized")
"""``packed``: valid points only, one row; ``organized``: one point per grid cell, NaN where depth is invalid."""

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
"""Depth image encodings: 16-bit millimetres (``16UC1``, also sent as ``mono16``) or float32 metres."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the depth image (from its ``camera_info``)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_camera_info(cls, k: object, width: int, height: int) -> Intrinsics:
        """From a ``camera_info``'s row-major 3x3 ``k`` and its image size.

        Raises:
            ValueError: a focal length that is zero, negative or not finite
                (a camera_info that was never filled in).
        """
        values = [float(v) for v in k]  # type: ignore[attr-defined]
        fx, cx, fy, cy = values[0], values[2], values[4], values[5]
        if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
            msg = f"camera_info K has no usable focal length (fx={fx}, fy={fy})"
            raise ValueError(msg)
        return cls(fx, fy, cx, cy, int(width), int(height))


def depth_in_metres(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded depth image (H x W) as float32 metres; invalid pixels stay 0, NaN or inf.

    Raises:
        ImageEncodingError: an encoding that is not a depth encoding, or
            pixels of the wrong type for it.
    """
    if encoding in ("16UC1", "mono16"):
        if pixels.dtype != np.uint16:
            msg = f"{encoding} depth must be uint16 millimetres, got {pixels.dtype}"
            raise ImageEncodingError(msg)
        return pixels.astype(np.float32) * np.float32(0.001)
    if encoding == "32FC1":
        if pixels.dtype != np.float32:
            msg = f"32FC1 depth must be float32 metres, got {pixels.dtype}"
            raise ImageEncodingError(msg)
        return pixels
    msg = f"depth encoding {encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}"
    raise ImageEncodingError(msg)


def decode_depth(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: int | bool,
    data: object,
    *,
    max_pixels: int | None = None,
) -> np.ndarray:
    """The fields of a depth ``sensor_msgs/Image`` as H x W float32 metres (rows may be padded, bytes big-endian).

    ``max_pixels`` applies the frame limits of :func:`~lednet_ros.limits.check_image_size`
    before anything is allocated: a back-projected pixel costs some 60 bytes on the way to
    the cloud, so a 4000 x 4000 depth frame took 1.4 GB (issue 17).

    Raises:
        ImageEncodingError: not a depth encoding, zero size, beyond the
            limits, ``step`` too small, or a data length other than ``step * height``.
    """
    if encoding not in DEPTH_ENCODINGS:
        msg = f"depth encoding {encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}"
        raise ImageEncodingError(msg)
    check_image_shape(width, height, max_pixels, "depth image")
    size = 4 if encoding == "32FC1" else 2
    rows = image_rows(data, height, step, width * size, encoding)  # type: ignore[arg-type]
    kind = ">" if is_bigendian else "<"
    dtype = np.dtype(f"{kind}f4" if size == 4 else f"{kind}u2")
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    return depth_in_metres(pixels.astype(dtype.newbyteorder("=")), encoding)


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """... x 3 uint8 RGB -> ... float32 whose bits are 0x00RRGGBB (the PointCloud2 ``rgb`` convention)."""
    c = colors.astype(np.uint32)
    return ((c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).view(np.float32)


def nearest_pixels(positions: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Pixel indices on an axis of ``to_size`` nearest to ``positions`` on an axis of ``from_size`` (same view).

    Pixel centres are mapped onto each other, so equal sizes map every index to itself.
    """
    return np.minimum(((positions + 0.5) * to_size / from_size).astype(np.intp), to_size - 1)


def cloud_grid(depth_shape: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The depth rows and columns the cloud samples: every ``stride``-th, from 0.

    Raises:
        ValueError: stride below 1.
    """
    if stride < 1:
        msg = f"cloud stride must be at least 1, got {stride}"
        raise ValueError(msg)
    height, width = depth_shape[:2]
    return np.arange(0, height, stride), np.arange(0, width, stride)


def to_cloud_grid(image: np.ndarray, depth_shape: tuple[int, int], stride: int) -> np.ndarray:
    """``image`` (labels or confidence of the colour frame, any resolution) at the organised cloud's grid.

    Nearest neighbour, so labels stay class ids. The image itself (no copy)
    when it already has the grid's size: depth at the image's size, stride 1.
    """
    rows, cols = cloud_grid(depth_shape, stride)
    if stride == 1 and image.shape[:2] == tuple(depth_shape[:2]):
        return image
    height, width = depth_shape[:2]
    return image[np.ix_(nearest_pixels(rows, height, image.shape[0]), nearest_pixels(cols, width, image.shape[1]))]


def _pixel_intrinsics(intrinsics: Intrinsics, width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) for a depth image of ``width`` x ``height`` (a camera_info of another resolution scaled)."""
    sx, sy = width / intrinsics.width, height / intrinsics.height
    return intrinsics.fx * sx, intrinsics.fy * sy, intrinsics.cx * sx, intrinsics.cy * sy


def _check_inputs(depth_m: np.ndarray, labels: np.ndarray, palette: np.ndarray) -> None:
    if depth_m.ndim != 2 or labels.ndim != 2 or palette.shape != (256, 3):
        msg = (
            f"expected 2-D depth and labels and a 256 x 3 palette, got {depth_m.shape}, {labels.shape}, {palette.shape}"
        )
        raise ValueError(msg)


def semantic_cloud(
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    labels: np.ndarray,
    palette: np.ndarray,
    *,
    stride: int = 1,
) -> np.ndarray:
    """Back-project every ``stride``-th valid depth pixel and label it: a 1-D :data:`POINT_DTYPE` array (``packed``).

    Args:
        depth_m: H x W float32 metres, aligned with the colour image (same
            view; any resolution).
        intrinsics: the depth image's pinhole intrinsics. A camera_info for
            another resolution than the depth image is scaled to it.
        labels: h x w train ids of the colour frame, resampled to the depth
            resolution by nearest neighbour (pixel centres mapped onto each
            other).
        palette: 256 x 3 uint8 RGB colour of each train id.
        stride: take every ``stride``-th row and column (1: all).

    Raises:
        ValueError: stride below 1, or inputs of the wrong shape.
    """
    rows, cols, pinhole = _grid(depth_m, intrinsics, labels, palette, stride)
    height, width = depth_m.shape
    z = depth_m[np.ix_(rows, cols)]
    valid = np.isfinite(z) & (z > 0)
    v, u = np.nonzero(valid)
    z = z[v, u].astype(np.float32)
    v, u = rows[v], cols[u]
    ids = labels[nearest_pixels(v, height, labels.shape[0]), nearest_pixels(u, width, labels.shape[1])]
    return _points(u, v, z, ids, palette, pinhole)


def organized_cloud(
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    labels: np.ndarray,
    palette: np.ndarray,
    *,
    stride: int = 1,
) -> np.ndarray:
    """One point per ``stride`` cell of the depth image: a rows x cols :data:`POINT_DTYPE` array (``organized``).

    The arguments are :func:`semantic_cloud`'s. Where the depth is 0, NaN or
    infinite, x, y and z are NaN; every point, valid or not, carries the
    label (and its colour) of :func:`to_cloud_grid` ``(labels)`` at its cell,
    so a mask resampled the same way agrees with the cloud point for point.

    Raises:
        ValueError: stride below 1, or inputs of the wrong shape.
    """
    rows, cols, pinhole = _grid(depth_m, intrinsics, labels, palette, stride)
    z = depth_m[::stride, ::stride].astype(np.float32)  # a copy, so NaN can be written into it
    z[~(np.isfinite(z) & (z > 0))] = np.nan
    ids = to_cloud_grid(labels, depth_m.shape, stride)
    return _points(cols[np.newaxis, :], rows[:, np.newaxis], z, ids, palette, pinhole)


def _grid(
    depth_m: np.ndarray, intrinsics: Intrinsics, labels: np.ndarray, palette: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """Both layouts' start: the inputs checked, the sampled rows and columns, (fx, fy, cx, cy) at the depth's size."""
    rows, cols = cloud_grid(depth_m.shape, stride)
    _check_inputs(depth_m, labels, palette)
    height, width = depth_m.shape
    return rows, cols, _pixel_intrinsics(intrinsics, width, height)


def _points(
    u: np.ndarray, v: np.ndarray, z: np.ndarray, ids: np.ndarray, palette: np.ndarray,
    pinhole: tuple[float, float, float, float],
) -> np.ndarray:  # fmt: skip
    """:data:`POINT_DTYPE` points of ``z``'s shape, back-projected from pixel columns ``u`` and rows ``v``."""
    fx, fy, cx, cy = pinhole
    points = np.zeros(z.shape, POINT_DTYPE)  # zeros: the padding bytes go out too
    points["x"] = (u - cx) * z / fx
    points["y"] = (v - cy) * z / fy
    points["z"] = z
    points["rgb"] = pack_rgb(palette)[ids]
    points["label"] = ids
    return points


def cloud_fields(points: np.ndarray) -> dict[str, object]:
    """The ``sensor_msgs/PointCloud2`` fields, other than ``header`` and ``fields``, of a :data:`POINT_DTYPE` array.

    A 1-D array (:func:`semantic_cloud`) is an unorganised cloud: one row,
    dense. A 2-D one (:func:`organized_cloud`) keeps its rows and columns
    and is not dense (it may hold NaN points). ``data`` is an ``array.array``
    of bytes, filled from the array's one contiguous buffer in one copy; a
    ROS message takes it without a per-byte check (ros2/rclpy#763 is what a
    list or per-point filling costs).

    Raises:
        ValueError: ``points`` is not a 1-D or 2-D :data:`POINT_DTYPE` array.
    """
    if points.dtype != POINT_DTYPE or points.ndim not in (1, 2):
        msg = f"expected a 1-D or 2-D array of POINT_DTYPE, got {points.dtype} with shape {points.shape}"
        raise ValueError(msg)
    height, width = points.shape if points.ndim == 2 else (1, len(points))
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(points).reshape(-1).view(np.uint8))
    return {
        "height": height,
        "width": width,
        "is_bigendian": False,
        "point_step": POINT_DTYPE.itemsize,
        "row_step": POINT_DTYPE.itemsize * width,
        "is_dense": points.ndim == 1,
        "data": data,
    }
