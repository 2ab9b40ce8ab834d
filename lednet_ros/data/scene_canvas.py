"""The camera and the painter of the synthetic street scenes.

:class:`Canvas` fills the image, the label map and the depth map with the
same polygon, so the labels are exact by construction; :class:`CameraModel`
projects world points (metres) through a pinhole camera over a flat road.
The scene's composition is in :mod:`lednet_ros.data.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CameraModel", "Canvas", "Color", "jitter"]

Color = tuple[float, float, float]


@dataclass(frozen=True)
class CameraModel:
    """Pinhole camera over a flat road, axes per REP-103's optical frame.

    x right, y down, z forward; the camera is ``height`` metres above the road
    at lateral position ``lateral`` (metres right of the road's centre line).
    """

    width: int
    height: int
    fx: float
    cx: float
    cy: float
    horizon: float
    camera_height: float
    lateral: float

    def project(self, x: np.ndarray | float, up: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """Image (u, v) of world points: ``x`` right of the road centre, ``up`` above the road, ``z`` ahead."""
        z = np.maximum(np.asarray(z, dtype=np.float64), 0.05)
        u = self.cx + self.fx * (np.asarray(x, dtype=np.float64) - self.lateral) / z
        v = self.horizon + self.fx * (self.camera_height - np.asarray(up, dtype=np.float64)) / z
        return np.stack(np.broadcast_arrays(u, v), axis=-1)

    def intrinsics(self) -> np.ndarray:
        """3x3 camera matrix K (square pixels; the principal point is the image centre)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fx, self.cy], [0.0, 0.0, 1.0]])


class Canvas:
    """Paints image, labels and depth together, each shape only inside its bounding box."""

    def __init__(self, camera: CameraModel, rng: np.random.Generator) -> None:
        h, w = camera.height, camera.width
        self.camera = camera
        self.rng = rng
        self.image = np.zeros((h, w, 3), dtype=np.float32)
        self.labels = np.zeros((h, w), dtype=np.uint8)
        self.depth = np.full((h, w), np.inf, dtype=np.float32)
        self.light = 1.0

    def _region(self, points: np.ndarray) -> tuple[int, int, int, int] | None:
        x0, y0 = np.floor(points.min(axis=0)).astype(np.int64)
        x1, y1 = np.ceil(points.max(axis=0)).astype(np.int64) + 1
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), self.camera.width), min(int(y1), self.camera.height)
        return None if x0 >= x1 or y0 >= y1 else (x0, y0, x1, y1)

    def polygon(self, points: np.ndarray, label: int, color: Color, *, texture: float = 0.0,
                depth: float | None = None, shade: float = 1.0) -> None:  # fmt: skip
        """Fill an image-space polygon; ``depth`` None keeps the depth already there."""
        points = np.asarray(points, dtype=np.float64)
        region = self._region(points)
        if region is None:
            return
        x0, y0, x1, y1 = region
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        shifted = np.round((points - (x0, y0)) * 4).astype(np.int32)  # 2 bits of sub-pixel precision
        cv2.fillPoly(mask, [shifted], 1, lineType=cv2.LINE_8, shift=2)
        self._paint(region, mask.view(bool), label, color, texture, depth, shade)

    def ellipse(self, center: tuple[float, float], axes: tuple[float, float], label: int, color: Color, *,
                texture: float = 0.0, depth: float | None = None) -> None:  # fmt: skip
        """Fill an axis-aligned image-space ellipse."""
        cx, cy = center
        ax, ay = max(axes[0], 0.5), max(axes[1], 0.5)
        region = self._region(np.array([[cx - ax, cy - ay], [cx + ax, cy + ay]]))
        if region is None:
            return
        x0, y0, x1, y1 = region
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.ellipse(mask, (round((cx - x0) * 4), round((cy - y0) * 4)), (round(ax * 4), round(ay * 4)), 0, 0, 360, 1, -1,
                    shift=2)  # fmt: skip
        self._paint(region, mask.view(bool), label, color, texture, depth, 1.0)

    def world_quad(self, corners: list[tuple[float, float, float]], label: int, color: Color, **kwargs: float) -> None:
        """Fill the projection of a planar world quad given as (x, up, z) corners."""
        pts = np.asarray(corners, dtype=np.float64)
        if pts[:, 2].max() <= 0.3:
            return
        pts[:, 2] = np.maximum(pts[:, 2], 0.3)
        if "depth" not in kwargs:
            kwargs["depth"] = float(pts[:, 2].mean())
        self.polygon(self.camera.project(pts[:, 0], pts[:, 1], pts[:, 2]), label, color, **kwargs)  # type: ignore[arg-type]

    def world_quads(self, quads: np.ndarray, label: int, color: Color) -> None:
        """Fill many small world quads (N x 4 x (x, up, z)) of one colour in one pass, keeping depth."""
        quads = np.asarray(quads, dtype=np.float64)
        quads = quads[quads[:, :, 2].min(axis=1) > 0.3]
        if len(quads) == 0:
            return
        points = self.camera.project(quads[..., 0], quads[..., 1], quads[..., 2])  # N x 4 x 2
        region = self._region(points.reshape(-1, 2))
        if region is None:
            return
        x0, y0, x1, y1 = region
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(mask, list(np.round((points - (x0, y0)) * 4).astype(np.int32)), 1, lineType=cv2.LINE_8, shift=2)
        self._paint(region, mask.view(bool), label, color, 0.0, None, 1.0)

    def _paint(self, region: tuple[int, int, int, int], mask: np.ndarray, label: int, color: Color,
               texture: float, depth: float | None, shade: float) -> None:  # fmt: skip
        x0, y0, x1, y1 = region
        count = int(mask.sum())
        if count == 0:
            return
        base = np.asarray(color, dtype=np.float32) * (self.light * shade)
        pixels = self.image[y0:y1, x0:x1]
        if texture > 0:
            noise = self.rng.normal(0.0, texture * 255.0, size=(count, 1)).astype(np.float32)
            pixels[mask] = base + noise
        else:
            pixels[mask] = base
        self.labels[y0:y1, x0:x1][mask] = label
        if depth is not None:
            self.depth[y0:y1, x0:x1][mask] = depth


def jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: float = 18.0) -> Color:
    """``color`` with each channel moved by up to ``amount`` (uniform)."""
    r, g, b = (np.asarray(color, dtype=np.float32) + rng.uniform(-amount, amount, 3)).clip(0, 255)
    return (float(r), float(g), float(b))
