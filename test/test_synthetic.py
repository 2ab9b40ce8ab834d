from __future__ import annotations

import numpy as np
import pytest

from lednet_ros.synthetic import CLASSES_DRAWN, street_scene


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


def test_scenes_show_a_street() -> None:
    classes = set()
    for seed in range(8):
        frame = street_scene(256, 128, seed=seed)
        classes |= set(np.unique(frame.labels).tolist())
        top, bottom = frame.labels[:10], frame.labels[-10:]
        assert (top == 10).mean() > 0.3, "sky at the top"
        assert np.isin(bottom, [0, 1]).mean() > 0.5, "road and sidewalk at the bottom"
    assert {0, 1, 2, 8, 10, 13} <= classes


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        street_scene(8, 8)
