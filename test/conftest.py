"""Shared fixtures: seeded weights whose BatchNorm layers are not the identity.

Freshly built networks have BN statistics mean 0 / var 1 and affine 1 / 0, so
folding them changes almost nothing and a broken fold would go unnoticed.
Every test that checks numerics uses randomised statistics instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch
from shm_segments import remove_zombie_fastdds_segments

from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import untrained_checkpoint
from lednet_ros.model.weights import Checkpoint

# Exported ONNX graphs of the test weights go to a folder of this run, not the user's cache
# (node processes started by the tests inherit it).
os.environ.setdefault("LEDNET_ROS_CACHE", tempfile.mkdtemp(prefix="lednet_ros_test_cache_"))


def randomize_batchnorm(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random BN affine parameters, then running statistics measured on street scenes.

    Measured statistics keep the random network's activations well scaled, so
    its predictions vary from pixel to pixel like a trained network's do,
    instead of collapsing to one class (which would make label comparisons
    pass trivially).
    """
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    dtype = next(model.parameters()).dtype
    scenes = torch.stack([
        torch.from_numpy(street_scene(128, 64, seed=seed + i).image).permute(2, 0, 1) for i in range(6)
    ]).to(dtype) / 255.0  # fmt: skip
    was_training = model.training
    with torch.no_grad():
        for norm in norms:
            norm.weight.uniform_(0.5, 1.5, generator=generator)
            norm.bias.uniform_(-0.2, 0.2, generator=generator)
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the calibration batch
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout2d):
                module.eval()
        model(scenes)
        for norm in norms:
            norm.momentum = 0.1
    model.train(was_training)
    return model


def randomized_checkpoint(seed: int = 0, **meta_changes: object) -> Checkpoint:
    base = untrained_checkpoint(seed=seed)
    meta = replace(base.meta, **meta_changes) if meta_changes else base.meta
    model = randomize_batchnorm(base.build_model(), seed + 1000)
    return Checkpoint(meta, model.state_dict(), None, "untrained")


@pytest.fixture(scope="session")
def checkpoint() -> Checkpoint:
    return randomized_checkpoint(0)


@pytest.fixture(scope="session", autouse=True)
def no_leaked_shared_memory() -> Iterator[None]:
    """Fast DDS segments of processes the tests killed are removed before and after the run (see shm_segments)."""
    remove_zombie_fastdds_segments()
    yield
    remove_zombie_fastdds_segments()


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
