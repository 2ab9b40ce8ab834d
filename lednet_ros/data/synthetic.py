"""Seeded synthetic street scenes with exact per-pixel Cityscapes train ids.

No dataset can be downloaded where this project is built and tested, so the
demo, the tests and the shipped demo weights use generated driving-camera
frames. The generator places objects of real size (metres) in a street and
projects them through a pinhole camera looking along the road, so perspective,
scale and occlusion behave like a real dash camera. Every surface is painted
into the image, the label map and the depth map with the same polygon, back to
front, so the labels are exact by construction. Depth is exact for the road
plane and the building facades; upright objects get the depth of their
front plane.

Randomised per frame: camera height, horizon (pitch), field of view and
lateral position; number of lanes, sidewalk and set-back widths; buildings,
walls, fences, vegetation, terrain, poles with signs and traffic lights;
cars, trucks, buses, pedestrians, cyclists and motorcyclists (from version 2
also tram lines: rails in a lane, usually with a tram on them); time of day,
lighting, shadows, texture, sensor noise, blur and exposure.

The same (width, height, seed, version) always gives the same frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lednet_ros.data.scene_canvas import CameraModel, Canvas, jitter

__all__ = ["SCENE_VERSION", "SCENE_VERSIONS", "CameraModel", "SyntheticFrame", "classes_drawn", "street_scene"]

# Cityscapes train ids (config/cityscapes.yaml).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN = range(10)
SKY, PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(10, 19)

SCENE_VERSIONS = (1, 2)
"""Generator versions: 1 never paints ``train``; 2 adds tram lines (rails, and a tram on them)."""
SCENE_VERSION = SCENE_VERSIONS[-1]
"""The version new data gets; an older one reproduces the figures made with it (same seed, same frames)."""


def classes_drawn(version: int = SCENE_VERSION) -> tuple[int, ...]:
    """Train ids the generator of ``version`` paints (the rest can never be learnt from its scenes)."""
    every = tuple(range(BICYCLE + 1))
    return every if version >= 2 else tuple(i for i in every if i != TRAIN)


@dataclass(frozen=True)
class SyntheticFrame:
    """One generated frame.

    Attributes:
        image: HxWx3 uint8, RGB.
        labels: HxW uint8 train ids (every pixel is a class; no ignore).
        depth: HxW float32 distance along the optical axis in metres; +inf for sky.
        camera: the camera that saw it.
        seed: the seed that produced it.
    """

    image: np.ndarray
    labels: np.ndarray
    depth: np.ndarray
    camera: CameraModel
    seed: int


def _random_camera(width: int, height: int, rng: np.random.Generator, lateral: float) -> CameraModel:
    fov = math.radians(rng.uniform(50.0, 80.0))
    fx = (width / 2.0) / math.tan(fov / 2.0)
    pitch = math.radians(rng.uniform(-4.0, 3.0))  # positive: looking down, horizon moves up
    horizon = height / 2.0 - fx * math.tan(pitch)
    return CameraModel(width, height, fx, width / 2.0, height / 2.0, horizon, rng.uniform(1.2, 2.4), lateral)


@dataclass(frozen=True)
class _Street:
    road_half: float
    walk: float
    setback: float
    lanes: int
    lane_width: float


def _paint_ground(canvas: Canvas, street: _Street, rng: np.random.Generator) -> None:
    cam = canvas.camera
    far = 400.0
    rows = np.arange(cam.height, dtype=np.float64) + 0.5
    below = rows > cam.horizon + 0.5
    ground_depth = np.where(below, cam.fx * cam.camera_height / np.maximum(rows - cam.horizon, 1e-6), np.inf)
    ground_depth = np.minimum(ground_depth, far).astype(np.float32)
    outer = street.road_half + street.walk + street.setback
    terrain = jitter(rng, (110, 140, 80), 25)
    canvas.world_quad([(-200, 0, 0.3), (200, 0, 0.3), (200, 0, far), (-200, 0, far)], TERRAIN, terrain, texture=0.05)
    canvas.depth[:] = ground_depth[:, None]
    canvas.depth[~below] = np.inf
    for side in (-1, 1):
        edge = side * street.road_half
        walk_color = jitter(rng, (190, 180, 185), 20)
        canvas.world_quad([(edge, 0, 0.3), (side * (street.road_half + street.walk), 0, 0.3),
                           (side * (street.road_half + street.walk), 0, far), (edge, 0, far)],
                          SIDEWALK, walk_color, texture=0.04, depth=None)  # fmt: skip
        if street.setback > 0.5 and rng.random() < 0.5:  # a grass strip or hedge between walk and buildings
            inner = side * (street.road_half + street.walk)
            canvas.world_quad([(inner, 0, 0.3), (side * outer, 0, 0.3), (side * outer, 0, far), (inner, 0, far)],
                              TERRAIN, terrain, texture=0.06, depth=None)  # fmt: skip
    road = jitter(rng, (90, 88, 95), 12)
    canvas.world_quad([(-street.road_half, 0, 0.3), (street.road_half, 0, 0.3), (street.road_half, 0, far),
                       (-street.road_half, 0, far)], ROAD, road, texture=0.03, depth=None)  # fmt: skip
    # Lane markings: dashed between lanes, solid at the edges.
    paint = jitter(rng, (230, 230, 220), 10)
    offset = rng.uniform(0, 9)
    for lane in range(1, street.lanes):
        x = -street.road_half + lane * street.lane_width
        for z in np.arange(offset, 120.0, 9.0):
            canvas.world_quad([(x - 0.07, 0, z), (x + 0.07, 0, z), (x + 0.07, 0, z + 3), (x - 0.07, 0, z + 3)], ROAD,
                              paint, depth=None)  # fmt: skip
    for side in (-1, 1):
        x = side * (street.road_half - 0.3)
        canvas.world_quad([(x - 0.06, 0, 0.3), (x + 0.06, 0, 0.3), (x + 0.06, 0, 150), (x - 0.06, 0, 150)], ROAD, paint,
                          depth=None)  # fmt: skip


def _facade_depths(canvas: Canvas, x_world: float) -> np.ndarray:
    """Depth per image column of a vertical plane parallel to the road at lateral ``x_world``."""
    cam = canvas.camera
    columns = np.arange(cam.width, dtype=np.float64) + 0.5 - cam.cx
    with np.errstate(divide="ignore"):
        z = cam.fx * (x_world - cam.lateral) / columns
    return np.where(z > 0, z, np.inf).astype(np.float32)


def _paint_buildings(canvas: Canvas, street: _Street, rng: np.random.Generator) -> None:
    cam = canvas.camera
    if rng.random() < 0.4:  # the street ends at buildings across it (painted first: it is the farthest)
        z_end = rng.uniform(150.0, 300.0)
        x = -150.0
        while x < 150.0:
            span, tall = rng.uniform(10.0, 40.0), rng.uniform(8.0, 40.0)
            canvas.world_quad([(x, 0, z_end), (x + span, 0, z_end), (x + span, tall, z_end), (x, tall, z_end)], BUILDING,
                              jitter(rng, tuple(int(c) for c in rng.integers(60, 200, 3)), 10), texture=0.03)  # fmt: skip
            x += span
    for side in (-1, 1):
        x = side * (street.road_half + street.walk + street.setback)
        column_depth = _facade_depths(canvas, x)
        z = rng.uniform(-5.0, 5.0)
        while z < 220.0:
            length = rng.uniform(8.0, 35.0)
            if rng.random() < 0.12:  # a gap: a wall, a fence, or trees, with sky behind
                label = WALL if rng.random() < 0.5 else FENCE
                tall = rng.uniform(1.0, 2.5)
                color = jitter(rng, (150, 140, 150) if label == WALL else (170, 150, 120), 25)
                canvas.world_quad([(x, 0, z), (x, 0, z + length), (x, tall, z + length), (x, tall, z)], label, color,
                                  texture=0.05)  # fmt: skip
                z += length
                continue
            tall = rng.uniform(6.0, 30.0)
            color = jitter(rng, tuple(int(c) for c in rng.integers(60, 200, 3)), 10)
            before = canvas.labels.copy()
            canvas.world_quad([(x, 0, z), (x, 0, z + length), (x, tall, z + length), (x, tall, z)], BUILDING, color,
                              texture=0.03)  # fmt: skip
            painted = (canvas.labels == BUILDING) & (before != BUILDING)
            canvas.depth[painted] = np.broadcast_to(column_depth, canvas.depth.shape)[painted]
            # Windows: a grid on the facade, darker or lit at dusk.
            if (cam.fx * tall / max(z + length / 2, 1.0)) > 12:
                wz, wy = np.meshgrid(np.arange(z + 1.0, z + length - 1.0, rng.uniform(2.5, 4.0)),
                                     np.arange(1.0, tall - 1.0, 3.0), indexing="ij")  # fmt: skip
                wz, wy = wz.ravel(), wy.ravel()
                keep = cam.fx * 1.2 / np.maximum(wz, 0.5) >= 1.5  # farther windows are under two pixels wide
                wz, wy = wz[keep], wy[keep]
                quads = np.stack([np.stack([np.full_like(wz, x), wy + dy, wz + dz], axis=-1)
                                  for dy, dz in ((0.0, 0.0), (0.0, 1.2), (1.5, 1.2), (1.5, 0.0))], axis=1)  # fmt: skip
                canvas.world_quads(quads, BUILDING, jitter(rng, (50, 60, 80), 20))
            z += length + (rng.uniform(0.0, 6.0) if rng.random() < 0.3 else 0.0)


def _tree(canvas: Canvas, x: float, z: float, rng: np.random.Generator) -> None:
    tall = rng.uniform(3.0, 9.0)
    trunk = jitter(rng, (90, 70, 50), 15)
    canvas.world_quad([(x - 0.15, 0, z), (x + 0.15, 0, z), (x + 0.15, tall * 0.6, z), (x - 0.15, tall * 0.6, z)],
                      VEGETATION, trunk)  # fmt: skip
    (u, v), (u_edge, v_top) = canvas.camera.project([x, x + tall * 0.35], [tall * 0.7, tall], [z, z])
    canvas.ellipse((u, v), (abs(u_edge - u), abs(v - v_top)), VEGETATION, jitter(rng, (70, 115, 45), 25), texture=0.08,
                   depth=z)  # fmt: skip


def _pole(canvas: Canvas, x: float, z: float, rng: np.random.Generator) -> None:
    tall = rng.uniform(3.0, 8.0)
    canvas.world_quad([(x - 0.08, 0, z), (x + 0.08, 0, z), (x + 0.08, tall, z), (x - 0.08, tall, z)], POLE,
                      jitter(rng, (140, 140, 140)))  # fmt: skip
    kind = rng.random()
    if kind < 0.4:
        size = rng.uniform(0.5, 0.9)
        top = tall - rng.uniform(0.0, 1.0)
        color = jitter(rng, ((220, 200, 30), (200, 40, 40), (40, 80, 200))[int(rng.integers(0, 3))], 15)
        canvas.world_quad([(x - size / 2, top - size, z), (x + size / 2, top - size, z), (x + size / 2, top, z),
                           (x - size / 2, top, z)], SIGN, color)  # fmt: skip
    elif kind < 0.7:
        canvas.world_quad([(x - 0.2, tall - 1.0, z), (x + 0.2, tall - 1.0, z), (x + 0.2, tall, z), (x - 0.2, tall, z)],
                          LIGHT, jitter(rng, (35, 35, 35), 10))  # fmt: skip
        lamp = ((230, 40, 30), (240, 170, 20), (40, 220, 90))[int(rng.integers(0, 3))]
        (u, v), (u2, _) = canvas.camera.project([x, x + 0.1], [tall - 0.5, tall - 0.5], [z, z])
        canvas.ellipse((u, v), (abs(u2 - u), abs(u2 - u)), LIGHT, lamp, depth=z)


def _shadow(canvas: Canvas, x: float, z: float, w: float, length: float) -> None:
    """The shadow of a vehicle ``w`` wide and ``length`` long on the road under it (label road, darker)."""
    canvas.world_quad([(x - w / 2 - 0.2, 0, z - 0.3), (x + w / 2 + 0.3, 0, z - 0.3), (x + w / 2 + 0.3, 0, z + length),
                       (x - w / 2 - 0.2, 0, z + length)], ROAD, (35.0, 35.0, 38.0), depth=None)  # fmt: skip


def _vehicle(canvas: Canvas, x: float, z: float, rng: np.random.Generator) -> None:
    kind = rng.random()
    label, (w, h, length) = (
        (CAR, (rng.uniform(1.7, 2.0), rng.uniform(1.4, 1.7), 4.5)) if kind < 0.7
        else (TRUCK, (2.5, rng.uniform(2.8, 3.8), 8.0)) if kind < 0.85
        else (BUS, (2.55, 3.2, 12.0))
    )  # fmt: skip
    body = jitter(rng, tuple(int(c) for c in rng.integers(20, 235, 3)), 10)
    glass = jitter(rng, (40, 50, 65), 10)
    # Shadow on the road, then the visible side, then the rear.
    _shadow(canvas, x, z, w, length)
    side_x = x - w / 2 if x > canvas.camera.lateral else x + w / 2
    canvas.world_quad([(side_x, 0.2, z), (side_x, 0.2, z + length), (side_x, h, z + length), (side_x, h, z)], label,
                      body, texture=0.02, shade=0.8)  # fmt: skip
    canvas.world_quad([(x - w / 2, 0.2, z), (x + w / 2, 0.2, z), (x + w / 2, h, z), (x - w / 2, h, z)], label, body,
                      texture=0.02)  # fmt: skip
    top = h * (0.92 if label == CAR else 0.85)
    canvas.world_quad([(x - w * 0.42, h * 0.6, z), (x + w * 0.42, h * 0.6, z), (x + w * 0.42, top, z),
                       (x - w * 0.42, top, z)], label, glass)  # fmt: skip
    for wheel in (x - w * 0.35, x + w * 0.35):
        (u, v), (u2, v2) = canvas.camera.project([wheel, wheel + 0.3], [0.3, 0.0], [z, z])
        canvas.ellipse((u, v), (abs(u2 - u), abs(v2 - v)), label, (20.0, 20.0, 22.0), depth=z)


def _person(
    canvas: Canvas, x: float, z: float, rng: np.random.Generator, label: int = PERSON, base: float = 0.0
) -> None:
    tall = rng.uniform(1.5, 1.9)
    clothes = jitter(rng, tuple(int(c) for c in rng.integers(20, 200, 3)), 10)
    canvas.world_quad([(x - 0.2, base, z), (x + 0.2, base, z), (x + 0.25, base + tall * 0.82, z),
                       (x - 0.25, base + tall * 0.82, z)], label, clothes, texture=0.04)  # fmt: skip
    (u, v), (u2, v2) = canvas.camera.project([x, x + 0.11], [base + tall * 0.91, base + tall], [z, z])
    canvas.ellipse((u, v), (abs(u2 - u), abs(v2 - v)), label, jitter(rng, (200, 160, 130), 30), depth=z)


def _two_wheeler(canvas: Canvas, x: float, z: float, rng: np.random.Generator) -> None:
    label = BICYCLE if rng.random() < 0.6 else MOTORCYCLE
    frame = jitter(rng, (30, 30, 30) if label == BICYCLE else (150, 30, 30), 20)
    radius = 0.35 if label == BICYCLE else 0.32
    for dz in (0.0, 1.1):  # seen from behind at a slight angle: two wheels, one behind the other
        (u, v), (u2, v2) = canvas.camera.project([x + 0.1 * dz, x + 0.1 * dz + 0.08], [radius, 0.0], [z + dz, z + dz])
        canvas.ellipse((u, v), (max(abs(u2 - u), 1.0), abs(v2 - v)), label, frame, depth=z + dz)
    body_top = 0.9 if label == BICYCLE else 1.0
    canvas.world_quad([(x - 0.12, 0.3, z), (x + 0.12, 0.3, z), (x + 0.12, body_top, z), (x - 0.12, body_top, z)], label,
                      frame)  # fmt: skip
    _person(canvas, x, z - 0.05, rng, label=RIDER, base=body_top * 0.8)


def _rails(canvas: Canvas, x: float, rng: np.random.Generator) -> None:
    """A tram track along the road at lateral ``x``: two steel rails 1.435 m apart, set in the road (label road)."""
    steel = jitter(rng, (150, 150, 158), 15)
    for rail in (x - 0.7175, x + 0.7175):
        canvas.world_quad([(rail - 0.04, 0, 0.3), (rail + 0.04, 0, 0.3), (rail + 0.04, 0, 150), (rail - 0.04, 0, 150)],
                          ROAD, steel, depth=None)  # fmt: skip


TRAM_LIVERIES = ((235, 200, 40), (200, 35, 45), (232, 232, 228), (40, 90, 170), (60, 140, 80))


def _tram(canvas: Canvas, x: float, z: float, rng: np.random.Generator) -> None:
    """A tram on the rails at ``x``, its near end ``z`` metres ahead: long, tall, a window band and a pantograph."""
    w, h, length = 2.65, rng.uniform(3.3, 3.7), rng.uniform(25.0, 40.0)
    body = jitter(rng, TRAM_LIVERIES[int(rng.integers(0, len(TRAM_LIVERIES)))], 12)
    stripe = jitter(rng, TRAM_LIVERIES[int(rng.integers(0, len(TRAM_LIVERIES)))], 12)
    glass = jitter(rng, (35, 45, 60), 10)
    _shadow(canvas, x, z, w, length)
    side_x = x - w / 2 if x > canvas.camera.lateral else x + w / 2
    bands = ((0.35, h, body, 0.02), (0.9, 1.1, stripe, 0.0), (1.5, h * 0.82, glass, 0.0))
    for low, high, color, texture in bands:  # the long side, seen at a grazing angle
        canvas.world_quad([(side_x, low, z), (side_x, low, z + length), (side_x, high, z + length), (side_x, high, z)],
                          TRAIN, color, texture=texture, shade=0.8)  # fmt: skip
    for band, (low, high, color, texture) in enumerate(bands):  # the end facing the camera, its windscreen narrower
        half = w * 0.44 if band == 2 else w / 2
        canvas.world_quad([(x - half, low, z), (x + half, low, z), (x + half, high, z), (x - half, high, z)], TRAIN,
                          color, texture=texture)  # fmt: skip
    mast = z + length * rng.uniform(0.15, 0.35)  # the pantograph: a thin diamond above the roof
    dark = jitter(rng, (45, 45, 48), 8)
    for x0, up0, x1, up1 in ((-0.5, h, 0.0, h + 0.9), (0.5, h, 0.0, h + 0.9), (-0.8, h + 0.9, 0.8, h + 0.9)):
        canvas.world_quad([(x + x0 - 0.04, up0, mast), (x + x0 + 0.04, up0, mast), (x + x1 + 0.04, up1 + 0.05, mast),
                           (x + x1 - 0.04, up1 + 0.05, mast)], TRAIN, dark)  # fmt: skip


def _paint_street_furniture(canvas: Canvas, street: _Street, rng: np.random.Generator, version: int) -> None:
    """Poles, trees, vehicles and people (and from version 2 a tram line with its tram), painted far to near."""
    items: list[tuple[float, str, float]] = []
    for _ in range(int(rng.integers(2, 9))):
        side = rng.choice([-1.0, 1.0])
        items.append((rng.uniform(4.0, 80.0), "pole", side * (street.road_half + rng.uniform(0.3, 0.8))))
    for _ in range(int(rng.integers(0, 8))):
        side = rng.choice([-1.0, 1.0])
        items.append((rng.uniform(4.0, 90.0), "tree", side * (street.road_half + street.walk + street.setback * 0.5)))
    for _ in range(int(rng.integers(0, 7))):
        lane = int(rng.integers(0, street.lanes))
        x = -street.road_half + (lane + 0.5) * street.lane_width + rng.uniform(-0.3, 0.3)
        items.append((rng.uniform(5.0, 70.0), "vehicle", x))
    for _ in range(int(rng.integers(0, 6))):
        side = rng.choice([-1.0, 1.0])
        items.append((rng.uniform(3.0, 50.0), "person", side * (street.road_half + rng.uniform(0.5, street.walk))))
    for _ in range(int(rng.integers(0, 3))):
        side = rng.choice([-1.0, 1.0])
        items.append((rng.uniform(5.0, 50.0), "cyclist", side * (street.road_half - rng.uniform(0.5, 1.2))))
    if version >= 2 and rng.random() < 0.35:  # a tram line in one lane, usually with a tram on it
        lane = int(rng.integers(0, street.lanes))
        track = -street.road_half + (lane + 0.5) * street.lane_width
        _rails(canvas, track, rng)
        if rng.random() < 0.8:
            items.append((rng.uniform(6.0, 80.0), "tram", track))
    painters = {"pole": _pole, "tree": _tree, "vehicle": _vehicle, "person": _person, "cyclist": _two_wheeler,
                "tram": _tram}  # fmt: skip
    for z, kind, x in sorted(items, reverse=True):
        painters[kind](canvas, x, z, rng)


def _sky(canvas: Canvas, rng: np.random.Generator, dusk: bool) -> None:
    top = jitter(rng, (180, 120, 110) if dusk else (70, 130, 200), 25)
    bottom = jitter(rng, (240, 170, 110) if dusk else (185, 205, 225), 20)
    ramp = np.linspace(0.0, 1.0, canvas.camera.height, dtype=np.float32)[:, None, None]
    canvas.image[:] = np.asarray(top, dtype=np.float32) * (1 - ramp) + np.asarray(bottom, dtype=np.float32) * ramp
    canvas.labels[:] = SKY


def street_scene(width: int = 1024, height: int = 512, seed: int = 0, version: int = SCENE_VERSION) -> SyntheticFrame:
    """Generate a driving-camera street scene of ``width`` x ``height`` pixels with generator ``version``."""
    if width < 16 or height < 16:
        msg = f"scene size {width}x{height} is too small (at least 16x16)"
        raise ValueError(msg)
    if version not in SCENE_VERSIONS:
        msg = f"scene version {version} is not one of {', '.join(map(str, SCENE_VERSIONS))}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    lanes = int(rng.integers(2, 5))
    lane_width = rng.uniform(3.0, 3.7)
    street = _Street(lanes * lane_width / 2, rng.uniform(1.5, 4.5), rng.uniform(0.0, 6.0), lanes, lane_width)
    lane = int(rng.integers(0, lanes))
    camera = _random_camera(width, height, rng, -street.road_half + (lane + 0.5) * lane_width + rng.uniform(-0.4, 0.4))
    canvas = Canvas(camera, rng)
    dusk = rng.random() < 0.25
    _sky(canvas, rng, dusk)
    canvas.light = rng.uniform(0.55, 0.8) if dusk else rng.uniform(0.85, 1.15)
    _paint_ground(canvas, street, rng)
    _paint_buildings(canvas, street, rng)
    _paint_street_furniture(canvas, street, rng, version)

    # Camera: exposure, gamma, sensor noise, blur.
    exposed = np.clip(canvas.image * rng.uniform(0.7, 1.3) + rng.uniform(-15, 15), 0, 255).astype(np.uint8)
    gamma = rng.uniform(0.8, 1.25)
    image = cv2.LUT(exposed, (255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)).astype(np.float32)
    image += rng.standard_normal(size=image.shape, dtype=np.float32) * rng.uniform(1.0, 6.0)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.3))
    return SyntheticFrame(np.clip(image, 0, 255).astype(np.uint8), canvas.labels, canvas.depth, camera, seed)
