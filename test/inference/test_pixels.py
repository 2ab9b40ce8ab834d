"""The engine's pixel rules: model input size, resizing, score classification, image checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lednet_ros.errors import ImageEncodingError
from lednet_ros.inference.pixels import check_image, classify_scores, model_input_size, resize, resize_uint8, upload


def test_keep_aspect_derives_the_model_height() -> None:
    assert model_input_size((1920, 1080), (1024, 512), keep_aspect=True) == (1024, 576)
    assert model_input_size((640, 480), (1024, 512), keep_aspect=True) == (1024, 768)
    assert model_input_size((1920, 1080), (1024, 512), keep_aspect=False) == (1024, 512)
    assert model_input_size((10, 2000), (1024, 512), keep_aspect=True) == (1024, 4096)  # capped at 4:1


def test_resize_is_antialiased_only_along_a_shrinking_image() -> None:
    x = torch.rand(1, 3, 40, 60, generator=torch.Generator().manual_seed(0))
    assert resize(x, (60, 40)) is x
    smooth = torch.nn.functional.interpolate(x, size=(20, 30), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(resize(x, (30, 20)), smooth)
    grown = torch.nn.functional.interpolate(x, size=(80, 120), mode="bilinear", align_corners=False)
    assert torch.equal(resize(x, (120, 80)), grown)
    pixels = (x * 255).round().to(torch.uint8)
    small = resize_uint8(pixels, (30, 20))
    assert small.dtype == torch.uint8 and small.shape == (1, 3, 20, 30)


def test_classify_scores_upsamples_then_takes_the_argmax_and_the_rounded_softmax_maximum() -> None:
    coarse = torch.randn(2, 5, 4, 8, generator=torch.Generator().manual_seed(1)) * 3
    channel, confidence = classify_scores(coarse, (32, 64), confidence=True)
    logits = torch.nn.functional.interpolate(coarse, size=(32, 64), mode="bilinear", align_corners=True)
    assert torch.equal(channel, logits.argmax(1))
    expected = (torch.softmax(logits, 1).max(1).values * 255).round()
    assert confidence is not None and confidence.dtype == torch.uint8
    assert (confidence.float() - expected).abs().max() <= 1
    assert classify_scores(coarse, (32, 64), confidence=False)[1] is None


def test_upload_gives_rgb_planes_for_either_order_and_for_mono() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    rgb = upload(image, "rgb", torch.device("cpu"))
    assert rgb.shape == (1, 3, 5, 7) and torch.equal(rgb[0, 0], torch.from_numpy(image[..., 0]))
    assert torch.equal(upload(np.ascontiguousarray(image[..., ::-1]), "bgr", torch.device("cpu")), rgb)
    mono = upload(image[..., 1].copy(), "bgr", torch.device("cpu"))
    assert mono.shape == (1, 3, 5, 7) and all(torch.equal(mono[0, c], mono[0, 0]) for c in range(3))


def test_check_image_accepts_mono_and_rgb_uint8_only() -> None:
    check_image(np.zeros((2, 3), np.uint8))
    check_image(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ImageEncodingError, match="NumPy array"):
        check_image([[0]])  # type: ignore[arg-type]
