"""The frame and model size limits every path applies before allocating (issue 17, items 4 and 10)."""

from __future__ import annotations

import pytest

from lednet_ros.errors import ImageEncodingError, ImageTooLargeError, LednetError
from lednet_ros.limits import (
    ASPECT_FREE_SIDE,
    DEFAULT_MAX_PIXELS,
    MAX_ASPECT,
    MAX_SIDE,
    check_image_size,
    check_model_size,
)


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (1, 8294400, f"side over {MAX_SIDE}"),
        (8294400, 1, f"side over {MAX_SIDE}"),
        (16385, 64, f"side over {MAX_SIDE}"),
        (4000, 100, f"aspect ratio over {MAX_ASPECT}:1"),
        (100, 4000, f"aspect ratio over {MAX_ASPECT}:1"),
        (16384, 16384, "more than max_input_pixels"),
        (3841, 2160, "more than max_input_pixels"),
    ],
)
def test_sizes_beyond_a_limit_are_refused_with_the_reason(width: int, height: int, reason: str) -> None:
    with pytest.raises(ImageTooLargeError, match=reason):
        check_image_size(width, height, DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize(
    ("width", "height"),
    [(3840, 2160), (1920, 1080), (1, 1), (1, ASPECT_FREE_SIDE), (ASPECT_FREE_SIDE, 2), (4096, 256), (16384, 1024)],
)
def test_sizes_within_the_limits_pass(width: int, height: int) -> None:
    check_image_size(width, height, max(DEFAULT_MAX_PIXELS, width * height))


def test_empty_sizes_are_refused_but_not_as_too_large() -> None:
    with pytest.raises(ImageEncodingError, match="empty") as error:
        check_image_size(0, 10, None)
    assert not isinstance(error.value, ImageTooLargeError)


def test_model_sizes_are_capped() -> None:
    check_model_size(4096, 2048)
    check_model_size(1024, 512)
    with pytest.raises(LednetError, match="8192x8192 = 67108864 pixels is more than the limit"):
        check_model_size(8192, 8192)
    with pytest.raises(LednetError, match="aspect ratio"):
        check_model_size(8192, 8)
