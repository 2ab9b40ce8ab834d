"""The CUDA-graph pipeline gives what the op-by-op engine gives, and its cache stays bounded.

The graph tests need a CUDA device (skipped on the development machine and
in CI; run on a lent GPU, see benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cuda

from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.inference.lru import LruCache
from lednet_ros.model.weights import Checkpoint


def test_graph_cache_evicts_least_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert len(cache) == 2
    with pytest.raises(ValueError, match="at least 1"):
        LruCache(0)


def test_cpu_engine_never_uses_cuda_graphs(checkpoint: Checkpoint) -> None:
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64), backend="torch")
    assert not engine.uses_cuda_graphs
    engine.infer(street_scene(160, 96, seed=1).image)
    assert len(engine._graphs) == 0


@pytest.fixture(scope="module")
def engines(checkpoint: Checkpoint) -> tuple[SegmentationEngine, SegmentationEngine]:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (none on this machine)")
    graphed = SegmentationEngine(checkpoint, device="cuda", model_size=(512, 256))
    eager = SegmentationEngine(checkpoint, device="cuda", model_size=(512, 256), cuda_graphs=False)
    assert graphed.uses_cuda_graphs and not eager.uses_cuda_graphs
    return graphed, eager


def _agree(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize(("height", "width"), [(480, 640), (1080, 1920), (37, 53)])
def test_graph_matches_eager_on_every_output(engines: tuple[SegmentationEngine, SegmentationEngine],
                                             height: int, width: int) -> None:  # fmt: skip
    graphed, eager = engines
    images = [street_scene(width, height, seed=s).image for s in (1, 2, 3)]
    orders = ["rgb", "bgr", "rgb"]
    kwargs = {"confidence": True, "color": True, "overlay": True, "alpha": 0.3}
    got = graphed.infer_batch(images, order=orders, **kwargs)
    want = eager.infer_batch(images, order=orders, **kwargs)
    for g, w in zip(got, want, strict=True):
        assert g.labels.shape == (height, width)
        assert _agree(g.labels, w.labels) >= 0.999
        same = g.labels == w.labels
        assert np.abs(g.confidence.astype(int) - w.confidence.astype(int))[same].max() <= 2
        assert np.array_equal(g.color[same], w.color[same])
        assert np.abs(g.overlay.astype(int) - w.overlay.astype(int))[same].max() <= 1


@cuda
@pytest.mark.cuda
def test_channel_order_and_mono_follow_the_data_not_the_capture(
    engines: tuple[SegmentationEngine, SegmentationEngine],
) -> None:
    graphed, _ = engines
    rgb = street_scene(640, 480, seed=5).image
    bgr = rgb[..., ::-1]
    # One graph (batch 2, 480x640x3) serves both orders; the bgr image in bgr order is the rgb image.
    first = graphed.infer_batch([rgb, bgr], order=["rgb", "bgr"])
    second = graphed.infer_batch([bgr, rgb], order=["bgr", "rgb"])
    for result in (*first, *second):
        assert np.array_equal(result.labels, first[0].labels)
    # A bgr image declared rgb is a different image: the order really reaches the graph.
    wrong = graphed.infer_batch([bgr, bgr], order=["rgb", "rgb"])
    assert _agree(wrong[0].labels, first[0].labels) < 0.99
    mono = rgb.mean(axis=2).astype(np.uint8)
    mono_result = graphed.infer(mono)
    assert np.array_equal(mono_result.labels, graphed.infer(np.repeat(mono[..., None], 3, axis=2)).labels)


@cuda
@pytest.mark.cuda
def test_results_are_not_overwritten_by_the_next_replay(engines: tuple[SegmentationEngine, SegmentationEngine]) -> None:
    graphed, eager = engines
    a, b = street_scene(640, 480, seed=7).image, street_scene(640, 480, seed=8).image
    first = graphed.infer(a, color=True)
    kept = first.labels.copy(), first.color.copy()
    graphed.infer(b, color=True)
    assert np.array_equal(first.labels, kept[0]) and np.array_equal(first.color, kept[1])
    assert _agree(first.labels, eager.infer(a).labels) >= 0.999


@cuda
@pytest.mark.cuda
def test_alpha_changes_reach_the_captured_graph(engines: tuple[SegmentationEngine, SegmentationEngine]) -> None:
    graphed, _ = engines
    image = street_scene(320, 240, seed=9).image
    only_image = graphed.infer(image, overlay=True, alpha=0.0).overlay
    only_palette = graphed.infer(image, overlay=True, alpha=1.0)
    assert np.array_equal(only_image, image)
    valid = only_palette.labels != graphed.ignore_id
    assert np.array_equal(only_palette.overlay[valid], graphed.classes.palette()[only_palette.labels[valid]])


@cuda
@pytest.mark.cuda
def test_one_graph_per_batch_and_shape_and_bounded(checkpoint: Checkpoint) -> None:
    engine = SegmentationEngine(checkpoint, device="cuda", model_size=(128, 64))
    image = street_scene(160, 320, seed=1).image
    engine.infer(image)
    engine.infer(image)
    assert len(engine._graphs) == 1
    engine.infer_batch([image, image])
    engine.infer(image[:80])
    assert len(engine._graphs) == 3
    for height in range(96, 96 + 8 * 20, 8):  # 20 more shapes
        engine.infer(image[:height])
    assert len(engine._graphs) == engine._graphs.capacity


@cuda
@pytest.mark.cuda
def test_graph_replays_correctly_after_later_cudnn_searches(checkpoint: Checkpoint) -> None:
    """A captured pipeline must survive cuDNN benchmark searches for other shapes made after its capture.

    With ``keep_aspect`` a camera of a new aspect ratio brings a new network
    shape (a new search) while graphs of the old shapes stay in use. On an
    H100 (torch 2.11), a bench-made graph of the bare network faulted on its
    first replay after a search for fp32 NCHW shapes; this replays the
    engine's graphs after searches for new shapes, other precisions and
    layouts, and checks the results have not changed.
    """
    engine = SegmentationEngine(checkpoint, device="cuda", model_size=(512, 256), keep_aspect=True)
    image = street_scene(640, 480, seed=11).image
    before = engine.infer(image, confidence=True)
    other = SegmentationEngine(checkpoint, device="cuda", precision="fp32", model_size=(768, 384), cuda_graphs=False)
    reference = checkpoint.build_model().cuda().eval()
    with torch.no_grad():
        reference(torch.rand(1, 3, 320, 960, device="cuda"))  # fp32 NCHW: a search of its own
    for height in (240, 360, 720):  # new network shapes for the keep_aspect engine
        other.infer(street_scene(640, height, seed=height).image)
        engine.infer(street_scene(640, height, seed=height).image)
    after = engine.infer(image, confidence=True)
    torch.cuda.synchronize()
    assert np.array_equal(after.labels, before.labels)
    assert np.array_equal(after.confidence, before.confidence)
