"""``lednet-ros segment``: segment image files or folders into PNGs.

For every input image ``NAME`` it writes, under ``--out``:
``NAME_labels.png`` (8-bit train ids, 255 = ignore), ``NAME_color.png``
(palette) and ``NAME_overlay.png`` (input blended with the palette), plus one
``segment.json`` that lists what was written, with which weights and how long
each image took.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from lednet_ros.commands.args import add_alpha_argument, add_engine_arguments, engine_options, run_guarded
from lednet_ros.data.image_files import collect_images, read_rgb, write_png
from lednet_ros.inference.engine import SegmentationEngine

__all__ = ["SegmentResult", "main", "run"]

PROG = "lednet-ros segment"


@dataclass
class SegmentResult:
    """What a ``segment`` run did."""

    outputs: list[dict[str, object]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    summary_file: Path | None = None


def run(engine: SegmentationEngine, inputs: list[Path], out_dir: Path, *, alpha: float = 0.5) -> SegmentResult:
    """Segment every image in ``inputs`` (files or folders) into ``out_dir``.

    An unreadable image is reported and skipped; the others are still done.
    """
    result = SegmentResult()
    images = collect_images(inputs)
    for source, stem in tqdm(images, desc="segmenting", unit="image", disable=None):
        try:
            rgb = read_rgb(source)
        except Exception as exc:
            result.failed.append({"input": str(source), "error": str(exc)})
            tqdm.write(f"{PROG}: skipped {source}: {exc}")
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
        "precision": engine.precision_name,
        "model_size": list(engine.model_size),
        "images": result.outputs,
        "failed": result.failed,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    result.summary_file = out_dir / "segment.json"
    result.summary_file.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros segment``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="image files or folders (searched recursively)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/segment"), metavar="DIR", help="output folder (default: out/segment)"
    )
    add_alpha_argument(parser)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros segment``."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        images = collect_images(args.paths)  # bad paths fail before the model is built
        if not images:
            print(f"{PROG}: no images found in the given paths")
            return 1
        engine = engine_options(args).build_engine()
        print(f"weights: {engine.checkpoint.describe()}")
        result = run(engine, args.paths, args.out, alpha=args.alpha)
        print(f"wrote {len(result.outputs)} x 3 PNGs and {result.summary_file}")
        if result.failed:
            print(f"{len(result.failed)} input(s) could not be read; listed in {result.summary_file}")
            return 1
        return 0

    return run_guarded(PROG, body)
