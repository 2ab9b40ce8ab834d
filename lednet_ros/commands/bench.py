"""``lednet-ros bench``: latency of the engine next to plain eager PyTorch.

For each model size, several ways of running the same weights are timed in
one process, interleaved (one call of each per round), so machine noise hits
them alike and the ratio is meaningful:

* ``eager fp32``: the reference. ``LEDNet`` as built, BatchNorm unfolded,
  NCHW float32, input tensor prepared in advance, ``torch.no_grad()``, full
  resolution class scores out;
* ``engine model: BACKEND``: the engine's network on each backend installed
  (PyTorch: BatchNorm folded, channels_last, engine precision; ONNX Runtime
  and OpenVINO: the exported folded graph), on the same prepared input, with
  the same full-resolution scores out;
* ``engine end-to-end``: ``SegmentationEngine.infer_batch`` with the ``auto``
  backend on uint8 images of that size: upload, scaling, network,
  upsampling, argmax, confidence, download.

On CUDA the PyTorch rows come in pairs: launched op by op (``eager``) and
replayed as a CUDA graph (the model alone, captured here; end to end, the
engine's own captured pipeline), and with ``--compile`` also through
``torch.compile``. A CUDA graph is what the engine uses by default there.

Prints a Markdown table and writes ``bench.md`` and ``bench.json``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)
from tqdm import tqdm

from lednet_ros.commands.args import positive_int, run_guarded, size_argument
from lednet_ros.evaluation.report import write_results
from lednet_ros.inference.backends import BACKENDS, available_backends, resolve_backend
from lednet_ros.inference.cuda_graphs import CapturedGraph, capture
from lednet_ros.inference.engine import SegmentationEngine, resolve_device
from lednet_ros.model.checkpoint import Checkpoint, default_checkpoint, load_checkpoint

__all__ = ["BenchRow", "main", "run"]

PROG = "lednet-ros bench"


@dataclass(frozen=True)
class BenchRow:
    """Timing of one variant at one size (milliseconds per call)."""

    variant: str
    width: int
    height: int
    batch: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    fps: float
    speedup_vs_eager: float


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(
    sizes: list[tuple[int, int]],
    *,
    weights: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    iterations: int = 20,
    warmup: int = 3,
    batch: int = 1,
    backends: list[str] | None = None,
    compile_network: bool = False,
) -> tuple[list[BenchRow], dict[str, object]]:
    """Time every variant at every size; return the rows and the environment.

    ``backends``: the engine backends to time (default: every one installed
    that runs on the device). ``compile_network``: also time the network
    through ``torch.compile`` (CUDA graph rows on CUDA).
    """
    rows: list[BenchRow] = []
    environment: dict[str, object] = {}
    rng = np.random.default_rng(0)
    checkpoint = load_checkpoint(weights) if weights else default_checkpoint()
    dev = resolve_device(device)
    auto_backend = resolve_backend("auto", dev)
    names = backends or [b for b in available_backends() if dev.type == "cpu" or b == "torch"]
    for width, height in sizes:
        # One engine per backend; the end-to-end row uses the auto backend's (built once even when also timed).
        engines = {b: SegmentationEngine(checkpoint, device=device, precision=precision,
                                         model_size=(width, height), backend=b)
                   for b in dict.fromkeys([*names, auto_backend])}  # fmt: skip
        auto = engines[auto_backend]
        eager = checkpoint.build_model().to(dev).eval()
        x_eager = torch.rand(batch, 3, height, width, device=dev)
        images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(batch)]

        def eager_call(model: torch.nn.Module = eager, x: torch.Tensor = x_eager) -> None:
            with torch.no_grad():
                model(x)

        def model_call(engine: SegmentationEngine, x: torch.Tensor) -> torch.Tensor:
            # The same work as eager: full-resolution fp32 scores (upsampled in fp32, as the engine does).
            with torch.inference_mode():
                coarse = engine.coarse_logits(x).float()
                return F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=True)

        def engine_call(eng: SegmentationEngine = auto, imgs: list[np.ndarray] = images) -> None:
            eng.infer_batch(imgs, confidence=True)

        variants: dict[str, Callable[[], object]] = {"eager fp32": eager_call}
        for name in names:
            engine = engines[name]
            x = x_eager.to(engine.dtype)
            variants[f"engine model: {name} ({engine.precision_name})"] = lambda e=engine, x=x: model_call(e, x)
        graph_rows: dict[str, Callable[[], object]] = {}
        if dev.type == "cuda":
            cuda_rows, graph_rows = _cuda_variants(checkpoint, dev, precision, (width, height), x_eager, images,
                                                   model_call, compile_network=compile_network)  # fmt: skip
            variants.update(cuda_rows)
        elif compile_network:
            compiled = SegmentationEngine(checkpoint, device=device, precision=precision, model_size=(width, height),
                                          backend="torch", compile_network=True)  # fmt: skip
            variants["engine model: torch.compile (fp32)"] = lambda e=compiled, x=x_eager: model_call(e, x)
        variants[f"engine end-to-end: auto = {auto.backend} ({auto.precision_name}"
                 f"{', CUDA graphs' if auto.uses_cuda_graphs else ''})"] = engine_call  # fmt: skip
        variants.update(graph_rows)  # last: captured once every other row has run (see _cuda_variants)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(warmup):
            for call in variants.values():
                call()
        for _ in tqdm(range(iterations), desc=f"{width}x{height}", unit="round", disable=None):
            for name, call in variants.items():
                _synchronize(dev)
                start = time.perf_counter()
                call()
                _synchronize(dev)
                times[name].append((time.perf_counter() - start) * 1000.0)
        reference = statistics.median(times["eager fp32"])
        for name, values in times.items():
            p50 = statistics.median(values)
            rows.append(BenchRow(
                variant=name, width=width, height=height, batch=batch,
                p50_ms=round(p50, 2), p95_ms=round(_percentile(values, 95), 2),
                mean_ms=round(statistics.fmean(values), 2), fps=round(1000.0 * batch / p50, 1),
                speedup_vs_eager=round(reference / p50, 2),
            ))  # fmt: skip
        environment = {
            "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev)
            if dev.type == "cuda"
            else platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "weights": auto.checkpoint.describe(),
            "backends": names,
            "auto_backend": auto.backend,
            "cuda_graphs": auto.uses_cuda_graphs,
            "iterations": iterations,
            "warmup": warmup,
        }
    environment["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    if torch.cuda.is_available():
        environment["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return rows, environment


def _cuda_variants(
    checkpoint: Checkpoint,
    dev: torch.device,
    precision: str,
    size: tuple[int, int],
    x_eager: torch.Tensor,
    images: list[np.ndarray],
    model_call: Callable[[SegmentationEngine, torch.Tensor], torch.Tensor],
    *,
    compile_network: bool,
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """The CUDA-only rows: the model replayed as a CUDA graph (plain and compiled), and end to end without graphs.

    The model graphs are captured on their first call, which comes after every
    other row's first call in the warm-up round (they are last in the dict):
    on an H100 a graph captured here and then followed by cuDNN benchmark
    searches for other layouts and precisions (the fp32 eager reference)
    faulted on replay; the engine captures once all searches for its shapes
    are done, and so does this.
    """
    variants: dict[str, Callable[[], object]] = {}
    graphs: dict[str, Callable[[], object]] = {}
    flavours = [False, True] if compile_network else [False]
    for compiled in flavours:
        engine = SegmentationEngine(checkpoint, device=str(dev), precision=precision, model_size=size,
                                    backend="torch", compile_network=compiled)  # fmt: skip
        label = f"torch{'.compile' if compiled else ''} ({engine.precision_name})"
        x = x_eager.to(engine.dtype)
        # The scores stay alive as the graph's output.
        graphs[f"engine model: {label} + CUDA graph"] = _LazyGraph(lambda e=engine, x=x: model_call(e, x))
        if compiled:
            variants[f"engine end-to-end: {label}, CUDA graphs"] = lambda e=engine: e.infer_batch(images)
    eager = SegmentationEngine(checkpoint, device=str(dev), precision=precision, model_size=size,
                               backend="torch", cuda_graphs=False)  # fmt: skip
    variants[f"engine end-to-end: torch ({eager.precision_name}), eager"] = lambda e=eager: e.infer_batch(images)
    return variants, graphs


class _LazyGraph:
    """A CUDA graph of ``fn``, captured on the first call and replayed on every call."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.graph: CapturedGraph[object] | None = None

    def __call__(self) -> object:
        if self.graph is None:
            with torch.inference_mode():
                self.graph = capture(self.fn)
        return self.graph.replay()


def markdown_table(rows: list[BenchRow]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| size | batch | variant | p50 ms | p95 ms | mean ms | FPS | speed-up vs eager |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.width}x{r.height} | {r.batch} | {r.variant} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.mean_ms:.2f} | {r.fps:.1f} | {r.speedup_vs_eager:.2f}x |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros bench``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Time the engine against plain eager PyTorch (Markdown + JSON)."
    )
    parser.add_argument("--sizes", type=size_argument, nargs="+", default=[(1024, 512), (512, 256)], metavar="WxH",
                        help="model sizes (default: 1024x512 512x256)")  # fmt: skip
    parser.add_argument("--iterations", type=int, default=20, help="timed rounds per size (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default: 3)")
    parser.add_argument("--batch", type=int, default=1, help="images per call (default: 1)")
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, metavar="NAME",
        help=f"engine backends to time (default: all installed; any of {', '.join(BACKENDS)})",
    )  # fmt: skip
    parser.add_argument("--compile", action="store_true",
                        help="also time the network through torch.compile (slow to compile; on CUDA with graphs)")  # fmt: skip
    parser.add_argument("--weights", metavar="FILE", help="weights file (default: the packaged weights)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16"])
    parser.add_argument(
        "--threads", type=positive_int, metavar="N", help="CPU threads for torch (default: torch's choice)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/bench"), metavar="DIR", help="output folder (default: out/bench)"
    )
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--iterations and --batch must be at least 1, --warmup at least 0")

    def body() -> int:
        if args.threads:
            torch.set_num_threads(args.threads)
        rows, environment = run(
            args.sizes, weights=args.weights, device=args.device, precision=args.precision,
            iterations=args.iterations, warmup=args.warmup, batch=args.batch, backends=args.backends,
            compile_network=args.compile,
        )  # fmt: skip
        table = markdown_table(rows)
        command = "lednet-ros bench " + " ".join(argv if argv is not None else sys.argv[1:])
        header = (f"device: {environment['device']} ({environment['device_name']}), torch {environment['torch']}, "
                  f"{environment['threads']} threads, peak RSS {environment['peak_rss_mib']} MiB"
                  + (f", peak CUDA memory {environment['peak_cuda_mib']} MiB" if "peak_cuda_mib" in environment else ""))  # fmt: skip
        print(table)
        print(header)
        md, js = write_results(args.out, "bench", command, f"{header}\n\n{table}",
                               {"environment": environment, "rows": [asdict(r) for r in rows]})  # fmt: skip
        print(f"wrote {md} and {js}")
        return 0

    return run_guarded(PROG, body)
