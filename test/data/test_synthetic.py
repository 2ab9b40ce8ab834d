from __future__ import annotations

import numpy as np
import pytest

from lednet_ros.data.synthetic import CLASSES_DRAWN, street_scene


def test_same_seed_same_frame_and_other_seed_other_frame() -> None:
    a, b, c = street_scene(320, 160, seed=4), street_scene(320, 160, seed=4), street_scene(320, 160, seed=5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize(("width", "height"), [(1024, 512), (640, 480), (33, 17)])
def test_frame_shapes_and_label_set(width: int, height: int) -> None:
    frame = street_scene(width, height, seed=1)
    assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
    assert frame.labels.shape == (height, width) and frame.labels.dtype == np.uint8
    assert set(np.unique(frame.labels)) <= set(CLASSES_DRAWN)


def test_scenes_show_a_street_seen_from_a_lane() -> None:
    classes = set()
    for seed in range(8):
        frame = street_scene(256, 128, seed=seed)
        classes |= set(np.unique(frame.labels).tolist())
        assert frame.labels[-2, 128] == 0, "the camera drives in a lane: road straight ahead at the bottom"
        assert np.isin(frame.labels[:16], [10, 2, 3, 4, 8, 5, 6, 7]).all(), "sky, buildings or street furniture on top"
        assert (frame.labels == 10).any(), "some sky"
    assert {0, 1, 2, 5, 8, 10, 13} <= classes


def test_depth_follows_the_ground_plane_and_sky_is_infinitely_far() -> None:
    frame = street_scene(320, 160, seed=3)
    cam = frame.camera
    assert np.isinf(frame.depth[frame.labels == 10]).all()
    road = frame.labels == 0
    rows = np.nonzero(road.any(axis=1))[0]
    bottom, upper = rows.max(), rows[len(rows) // 2]
    expected = cam.fx * cam.camera_height / (np.array([bottom, upper]) + 0.5 - cam.horizon)
    measured = [frame.depth[r][road[r]].mean() for r in (bottom, upper)]
    assert measured == pytest.approx(expected, rel=1e-3)
    assert measured[0] < measured[1]


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        street_scene(8, 8)
