"""Encode time and size of the node's /compressed outputs, per output and image size (issue 27).

Segments one synthetic street scene per size with the packaged weights (so
labels, confidence, colour and overlay look like the node's), then encodes
each output as the node's encoder thread does
(:func:`lednet_ros.msgs.compressed_output.encode_compressed_output`): labels
and confidence as PNG, colour and overlay as JPEG at the default quality and
as PNG. Prints a Markdown table (median and p95 encode ms, raw and
compressed bytes a frame, ratio) and writes it with the figures as JSON.

    python benchmarks/compressed_outputs.py --sizes 640x480 1920x1080 --iterations 30 --json out/compressed.json

It also times decoding compressedDepth input frames (the node's
``depth_transport:=compressedDepth``) of a smooth depth image with 5% holes
at each size, PNG and RVL, 16UC1 and 32FC1; the frames are built by the
tests' plugin-layout encoder (``test/depth_frames.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import cv2
import numpy as np

from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.inference.options import parse_size
from lednet_ros.msgs.compressed_depth import compressed_depth_in_metres
from lednet_ros.msgs.compressed_output import DEFAULT_JPEG_QUALITY, codec_for, encode_compressed_output

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
from depth_frames import frame  # the tests' encoder of the plugin's layout

ENCODINGS = {"labels": "mono8", "confidence": "mono8", "color": "rgb8", "overlay": "rgb8"}


def measure(pixels: np.ndarray, encoding: str, codec: str, iterations: int) -> dict[str, float]:
    """Median and p95 encode ms, and the raw and compressed bytes, of one output."""
    times = []
    size = 0
    for _ in range(iterations):
        started = time.perf_counter()
        _, data = encode_compressed_output(pixels, encoding, codec, jpeg_quality=DEFAULT_JPEG_QUALITY)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000.0)
        size = len(data)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "raw_bytes": int(pixels.nbytes),
        "compressed_bytes": size,
    }


def depth_rows(width: int, height: int, iterations: int) -> list[dict[str, object]]:
    """Decode ms (to metres) and bytes of compressedDepth frames of one size."""
    rng = np.random.default_rng(27)
    y, x = np.mgrid[0:height, 0:width]
    millimetres = (1000 + 4000 * y / height + 50 * np.sin(x / 20)).astype(np.uint16)
    millimetres[rng.random(millimetres.shape) < 0.05] = 0
    rows = []
    for encoding, depth in (("16UC1", millimetres), ("32FC1", millimetres.astype(np.float32) / 1000)):
        for codec in ("png", "rvl"):
            format_field, data = frame(encoding, codec, depth)
            times = []
            for _ in range(iterations):
                started = time.perf_counter()
                compressed_depth_in_metres(format_field, data)
                times.append((time.perf_counter() - started) * 1000.0)
            rows.append({"size": f"{width}x{height}", "encoding": encoding, "codec": codec,
                         "p50_ms": float(np.percentile(times, 50)), "raw_bytes": int(depth.nbytes),
                         "compressed_bytes": len(data)})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1920x1080"], help="WIDTHxHEIGHT sizes")
    parser.add_argument("--iterations", type=int, default=30, help="encodes per output and size")
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    engine = SegmentationEngine(device="cpu")
    rows = []
    depth = []
    for text in args.sizes:
        size = parse_size(text, 1)
        if size is None:
            parser.error(f"size {text!r} is not WIDTHxHEIGHT")
        width, height = size
        depth += depth_rows(width, height, args.iterations)
        result = engine.infer(street_scene(width, height, seed=27).image, confidence=True, color=True, overlay=True)
        outputs = {"labels": result.labels, "confidence": result.confidence, "color": result.color,
                   "overlay": result.overlay}  # fmt: skip
        for name, pixels in outputs.items():
            encoding = ENCODINGS[name]
            codecs = [codec_for(encoding, "jpeg")] + (["png"] if encoding == "rgb8" else [])
            for codec in codecs:
                row = {
                    "size": text,
                    "output": name,
                    "codec": codec,
                    **measure(pixels, encoding, codec, args.iterations),
                }
                rows.append(row)
    print("| size | output | codec | encode p50 ms | encode p95 ms | raw bytes | compressed bytes | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = r["raw_bytes"] / r["compressed_bytes"]
        print(f"| {r['size']} | {r['output']} | {r['codec']}{' q95' if r['codec'] == 'jpeg' else ''} | "
              f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['raw_bytes']:,} | {r['compressed_bytes']:,} | {ratio:.1f}x |")  # fmt: skip
    print("\n| size | depth | codec | decode p50 ms | raw bytes | compressed bytes | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in depth:
        ratio = r["raw_bytes"] / r["compressed_bytes"]  # type: ignore[operator]
        print(f"| {r['size']} | {r['encoding']} | {r['codec']} | {r['p50_ms']:.2f} | {r['raw_bytes']:,} | "
              f"{r['compressed_bytes']:,} | {ratio:.1f}x |")  # fmt: skip
    environment = {"python": platform.python_version(), "opencv": cv2.__version__, "machine": platform.machine(),
                   "threads": cv2.getNumThreads()}  # fmt: skip
    print(f"\n{environment}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": environment, "rows": rows, "depth": depth}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
