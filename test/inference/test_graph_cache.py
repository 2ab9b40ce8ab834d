"""The ONNX graph cache on disk stays within its bounds, least recently used removed first (issue 17, item 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lednet_ros.inference import backends


def fake_graphs(folder: Path, count: int, size: int = 100) -> list[Path]:
    """``count`` graph files, oldest first (modification times one second apart)."""
    paths = []
    for index in range(count):
        path = folder / f"lednet_head_{index}.onnx"
        path.write_bytes(b"\0" * size)
        os.utime(path, ns=(1_000_000_000 * (index + 1), 1_000_000_000 * (index + 1)))
        paths.append(path)
    return paths


def test_the_oldest_graphs_beyond_the_count_are_removed(tmp_path: Path) -> None:
    paths = fake_graphs(tmp_path, 10)
    (tmp_path / "notes.txt").write_text("not a graph")  # other files are left alone
    deleted = backends.prune_cache(tmp_path, max_files=4, max_bytes=10**9)
    assert sorted(deleted) == sorted(paths[:6])
    assert sorted(tmp_path.glob("lednet_*.onnx")) == sorted(paths[6:])
    assert (tmp_path / "notes.txt").exists()


def test_the_size_bound_holds_and_the_graph_just_exported_is_kept(tmp_path: Path) -> None:
    paths = fake_graphs(tmp_path, 10, size=1000)
    os.utime(paths[0], ns=(1, 1))  # the one to keep is the oldest here: kept anyway
    backends.prune_cache(tmp_path, keep=paths[0], max_files=100, max_bytes=3500)
    assert sorted(tmp_path.glob("lednet_*.onnx")) == sorted([paths[0], *paths[7:]])


def test_exporting_head_graphs_for_ever_new_sizes_keeps_the_cache_bounded(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A camera that keeps changing resolution: one head graph per size, but never more than the bound on disk."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    monkeypatch.setattr(backends, "MAX_CACHED_GRAPHS", 2)
    for width in (16, 24, 32, 40):
        backends.make_head_runner((1, 4, 2, 2), (8, width), confidence=False)
        assert len(list(tmp_path.glob("lednet_*.onnx"))) <= 2
    names = sorted(p.name for p in tmp_path.glob("lednet_*.onnx"))
    assert any("to_8x40_" in name for name in names) and any("to_8x32_" in name for name in names), names
