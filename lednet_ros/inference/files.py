"""Segmenting image files into PNGs: labels, colour mask and overlay per image, and a summary.

For every input image ``NAME`` it writes ``NAME_labels.png`` (8-bit train
ids, 255 = ignore), ``NAME_color.png`` (palette) and ``NAME_overlay.png``
(input blended with the palette), plus one ``segment.json`` that lists what
was written, with which weights and how long each image took.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from lednet_ros.data.image_files import collect_images, read_rgb, write_png

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine

__all__ = ["SUMMARY_NAME", "SegmentResult", "segment_files"]

SUMMARY_NAME = "segment.json"
_log = logging.getLogger(__name__)


@dataclass
class SegmentResult:
    """What a run over image files did."""

    outputs: list[dict[str, object]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    summary_file: Path | None = None


def segment_files(engine: SegmentationEngine, inputs: list[Path], out_dir: Path, *, alpha: float = 0.5,
                  max_pixels: int | None = None) -> SegmentResult:  # fmt: skip
    """Segment every image in ``inputs`` (files or folders) into ``out_dir``.

    An unreadable image, or one beyond ``max_pixels`` and the other frame
    limits (checked from its header), is logged, listed in the result and
    skipped: one bad file in a folder of thousands should not cost the others.
    """
    result = SegmentResult()
    for source, stem in tqdm(collect_images(inputs), desc="segmenting", unit="image", disable=None):
        try:
            rgb = read_rgb(source, max_pixels)
        except Exception as exc:
            result.failed.append({"input": str(source), "error": str(exc)})
            _log.warning("skipped %s: %s", source, exc)
            continue
        start = time.perf_counter()
        seg = engine.infer(rgb, order="rgb", confidence=False, color=True, overlay=True, alpha=alpha)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        base = out_dir / stem
        written = {
            "labels": write_png(base.with_name(base.name + "_labels.png"), seg.labels),
            "color": write_png(base.with_name(base.name + "_color.png"), seg.color),  # type: ignore[arg-type]
            "overlay": write_png(base.with_name(base.name + "_overlay.png"), seg.overlay),  # type: ignore[arg-type]
        }
        result.outputs.append({
            "input": str(source),
            "size": [int(rgb.shape[1]), int(rgb.shape[0])],
            "inference_ms": round(elapsed_ms, 2),
            **{k: str(v) for k, v in written.items()},
        })  # fmt: skip
    summary = {
        "weights": engine.checkpoint.describe(),
        "trained": engine.checkpoint.meta.trained,
        "device": str(engine.device),
        "precision": engine.running_precision,
        "backend": engine.backend,
        "model_size": list(engine.model_size),
        "images": result.outputs,
        "failed": result.failed,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    result.summary_file = out_dir / SUMMARY_NAME
    result.summary_file.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result
