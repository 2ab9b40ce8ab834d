"""Seeded synthetic street scenes with exact per-pixel Cityscapes train ids.

No dataset can be downloaded where this project is built and tested, so the
demo, the tests and (later) training use generated driving-camera frames.
Every object is painted into the image and the label map with the same
polygon, back to front, so the labels are exact by construction.

The same seed and size always give the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CLASSES_DRAWN", "SyntheticFrame", "street_scene"]

# Cityscapes train ids (config/cityscapes.yaml).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN = 0, 1, 2, 3, 4, 5, 6, 7
VEGETATION, TERRAIN, SKY, PERSON, CAR, TRUCK = 8, 9, 10, 11, 13, 14

CLASSES_DRAWN = (ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON, CAR, TRUCK)
"""Train ids this generator paints; rider, bus, train, motorcycle and bicycle are never drawn."""


@dataclass(frozen=True)
class SyntheticFrame:
    """One generated frame.

    Attributes:
        image: HxWx3 uint8, RGB.
        labels: HxW uint8 train ids (every pixel is a class; no ignore).
        seed: the seed that produced it.
    """

    image: np.ndarray
    labels: np.ndarray
    seed: int


class _Canvas:
    """Paints image and labels together so they can never disagree."""

    def __init__(self, width: int, height: int, rng: np.random.Generator) -> None:
        self.image = np.zeros((height, width, 3), dtype=np.float32)
        self.labels = np.zeros((height, width), dtype=np.uint8)
        self.rng = rng
        self.width = width
        self.height = height

    def polygon(self, points: np.ndarray, label: int, color: tuple[float, float, float], texture: float = 0.0) -> None:
        mask = np.zeros((self.height, self.width), dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        self._paint(mask.astype(bool), label, color, texture)

    def rect(self, x0: float, y0: float, x1: float, y1: float, label: int, color: tuple[float, float, float],
             texture: float = 0.0) -> None:  # fmt: skip
        self.polygon(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), label, color, texture)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, label: int, color: tuple[float, float, float],
                texture: float = 0.0) -> None:  # fmt: skip
        mask = np.zeros((self.height, self.width), dtype=np.uint8)
        cv2.ellipse(mask, (round(cx), round(cy)), (max(1, round(rx)), max(1, round(ry))), 0, 0, 360, 1, -1)
        self._paint(mask.astype(bool), label, color, texture)

    def _paint(self, mask: np.ndarray, label: int, color: tuple[float, float, float], texture: float) -> None:
        if not mask.any():
            return
        count = int(mask.sum())
        shade = np.asarray(color, dtype=np.float32)
        if texture > 0:
            noise = self.rng.normal(0.0, texture, size=(count, 1)).astype(np.float32)
            self.image[mask] = shade + noise * 255.0
        else:
            self.image[mask] = shade
        self.labels[mask] = label


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: float = 18.0) -> tuple[float, float, float]:
    r, g, b = (np.asarray(color, dtype=np.float32) + rng.uniform(-amount, amount, 3)).clip(0, 255)
    return (float(r), float(g), float(b))


def street_scene(width: int = 1024, height: int = 512, seed: int = 0) -> SyntheticFrame:
    """Generate a driving-camera street scene of ``width`` x ``height`` pixels.

    Perspective road with lane markings, sidewalks, terrain, buildings with
    windows, walls, fences, trees, poles with signs and traffic lights, cars,
    trucks and pedestrians; random horizon, lighting and sensor noise.
    """
    if width < 16 or height < 16:
        msg = f"scene size {width}x{height} is too small (at least 16x16)"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    canvas = _Canvas(width, height, rng)
    w, h = float(width), float(height)
    horizon = h * rng.uniform(0.38, 0.5)
    vanish_x = w * rng.uniform(0.4, 0.6)

    # Sky: vertical gradient over the whole frame (everything else paints over it).
    top = np.asarray(_jitter(rng, (70, 130, 200), 25), dtype=np.float32)
    bottom = np.asarray(_jitter(rng, (180, 200, 220), 20), dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    canvas.image[:] = top * (1 - ramp) + bottom * ramp
    canvas.labels[:] = SKY

    # Ground: terrain to the horizon, then the road trapezoid and sidewalks.
    canvas.rect(0, horizon, w, h, TERRAIN, _jitter(rng, (120, 150, 90)), texture=0.05)
    road_half = w * rng.uniform(0.45, 0.7)
    walk = w * rng.uniform(0.2, 0.35)
    left_road, right_road = vanish_x - road_half, vanish_x + road_half
    canvas.polygon(np.array([[vanish_x - 2, horizon], [vanish_x + 2, horizon], [right_road + walk, h], [left_road - walk, h]]),
                   SIDEWALK, _jitter(rng, (200, 180, 190)), texture=0.04)  # fmt: skip
    canvas.polygon(np.array([[vanish_x - 1, horizon], [vanish_x + 1, horizon], [right_road, h], [left_road, h]]),
                   ROAD, _jitter(rng, (95, 90, 100), 12), texture=0.03)  # fmt: skip
    # Dashed centre line, on the road, shrinking with distance.
    for i in range(12):
        t0, t1 = (i + 0.2) / 12.0, (i + 0.55) / 12.0
        y0, y1 = horizon + (h - horizon) * t0**2, horizon + (h - horizon) * t1**2
        hw0, hw1 = 1 + 6 * t0**2 * w / 1024, 1 + 6 * t1**2 * w / 1024
        canvas.polygon(np.array([[vanish_x - hw0, y0], [vanish_x + hw0, y0], [vanish_x + hw1, y1], [vanish_x - hw1, y1]]),
                       ROAD, (235.0, 235.0, 225.0))  # fmt: skip

    # Buildings on both sides, from the horizon upward, with windows.
    for side in (-1, 1):
        x = vanish_x + side * rng.uniform(0.02, 0.08) * w
        edge = 0.0 if side < 0 else w
        while (x > edge) if side < 0 else (x < edge):
            span = rng.uniform(0.08, 0.2) * w
            x_next = x + side * span
            top_y = horizon - rng.uniform(0.15, 0.38) * h
            base_y = horizon + rng.uniform(0.0, 0.04) * h
            x0, x1 = sorted((x, x_next))
            kind = rng.random()
            label, base_color = (WALL, (140, 130, 150)) if kind < 0.12 else (BUILDING, (90, 85, 80))
            canvas.rect(x0, top_y, x1, base_y, label, _jitter(rng, base_color, 30), texture=0.03)
            if label == BUILDING:
                window = _jitter(rng, (60, 70, 90), 20)
                for wy in np.arange(top_y + 8, base_y - 12, max(6.0, h * 0.04)):
                    for wx in np.arange(x0 + 4, x1 - 8, max(6.0, w * 0.025)):
                        canvas.rect(wx, wy, wx + max(2.0, w * 0.01), wy + max(2.0, h * 0.018), BUILDING, window)
            x = x_next

    # Trees and fences along the sidewalks.
    for _ in range(rng.integers(2, 6)):
        side = rng.choice([-1, 1])
        depth = rng.uniform(0.1, 0.9)
        ground = horizon + (h - horizon) * depth**2
        x = vanish_x + side * (road_half + walk * 0.5) * depth**2 + side * rng.uniform(0, 0.05) * w
        size = (0.04 + 0.25 * depth**2) * h
        canvas.rect(x - size * 0.06, ground - size, x + size * 0.06, ground, VEGETATION, _jitter(rng, (80, 60, 40)))
        canvas.ellipse(
            x, ground - size * 1.2, size * 0.55, size * 0.5, VEGETATION, _jitter(rng, (70, 120, 40), 25), texture=0.06
        )
    if rng.random() < 0.6:
        side = rng.choice([-1, 1])
        far, near = 0.15, rng.uniform(0.5, 0.95)
        pts = []
        for depth in (far, near):
            y = horizon + (h - horizon) * depth**2
            x = vanish_x + side * (road_half + walk * 0.9) * depth**2
            pts.append((x, y, (0.02 + 0.12 * depth**2) * h))
        (xa, ya, ha), (xb, yb, hb) = pts
        canvas.polygon(
            np.array([[xa, ya - ha], [xb, yb - hb], [xb, yb], [xa, ya]]),
            FENCE,
            _jitter(rng, (170, 150, 130)),
            texture=0.05,
        )

    # Poles with a sign or a traffic light.
    for _ in range(rng.integers(1, 4)):
        side = rng.choice([-1, 1])
        depth = rng.uniform(0.2, 0.95)
        ground = horizon + (h - horizon) * depth**2
        x = vanish_x + side * (road_half + walk * 0.3) * depth**2
        tall = (0.08 + 0.5 * depth**2) * h
        thick = max(1.0, 0.012 * w * depth**2)
        canvas.rect(x - thick, ground - tall, x + thick, ground, POLE, _jitter(rng, (150, 150, 150)))
        head = max(2.0, 0.06 * h * depth**2)
        if rng.random() < 0.5:
            canvas.rect(
                x - head, ground - tall - head * 1.2, x + head, ground - tall, SIGN, _jitter(rng, (220, 210, 30))
            )
        else:
            canvas.rect(
                x - head * 0.4,
                ground - tall - head * 2.2,
                x + head * 0.4,
                ground - tall,
                LIGHT,
                _jitter(rng, (40, 40, 40)),
            )

    # Vehicles and people, far to near so near ones occlude far ones.
    agents = sorted(rng.uniform(0.15, 1.0, size=rng.integers(1, 6)))
    for depth in agents:
        ground = horizon + (h - horizon) * depth**2
        scale = depth**2
        lane = rng.uniform(-0.8, 0.8)
        if rng.random() < 0.75:
            label = TRUCK if rng.random() < 0.2 else CAR
            body_w = (0.5 if label == CAR else 0.65) * road_half * scale
            body_h = body_w * (0.55 if label == CAR else 0.9)
            cx = vanish_x + lane * road_half * scale
            paint = _jitter(rng, tuple(rng.integers(20, 230, 3).tolist()), 10)
            canvas.rect(cx - body_w / 2, ground - body_h, cx + body_w / 2, ground, label, paint, texture=0.02)
            canvas.rect(
                cx - body_w * 0.4,
                ground - body_h * 0.92,
                cx + body_w * 0.4,
                ground - body_h * 0.6,
                label,
                (40.0, 50.0, 60.0),
            )
            for wheel_x in (cx - body_w * 0.35, cx + body_w * 0.35):
                canvas.ellipse(wheel_x, ground - body_h * 0.05, body_w * 0.09, body_h * 0.1, label, (20.0, 20.0, 20.0))
        else:
            side = rng.choice([-1, 1])
            cx = vanish_x + side * (road_half + walk * rng.uniform(0.2, 0.8)) * scale
            tall = (0.05 + 0.35 * scale) * h
            canvas.rect(
                cx - tall * 0.12,
                ground - tall * 0.82,
                cx + tall * 0.12,
                ground,
                PERSON,
                _jitter(rng, (60, 50, 120), 40),
                texture=0.04,
            )
            canvas.ellipse(cx, ground - tall * 0.9, tall * 0.08, tall * 0.1, PERSON, _jitter(rng, (200, 160, 130)))

    # Lighting, sensor noise and blur.
    image = canvas.image * rng.uniform(0.6, 1.25) + rng.uniform(-20, 20)
    image += rng.normal(0.0, rng.uniform(1.0, 6.0), size=image.shape).astype(np.float32)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return SyntheticFrame(image=np.clip(image, 0, 255).astype(np.uint8), labels=canvas.labels, seed=seed)
