"""``lednet-ros bench``: latency of the engine next to plain eager PyTorch.

What is timed, and how, is :mod:`lednet_ros.evaluation.benchmark`'s; this
command parses the arguments, prints a Markdown table and writes
``bench.md`` and ``bench.json``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from lednet_ros.commands.args import positive_int, run_guarded, size_argument
from lednet_ros.evaluation.benchmark import BenchSettings, markdown_table, run
from lednet_ros.evaluation.report import write_results
from lednet_ros.inference.options import BACKENDS, PRECISIONS, EngineOptions, option_help

__all__ = ["main"]

PROG = "lednet-ros bench"
DEFAULTS = BenchSettings()
ENGINE_DEFAULTS = EngineOptions()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Time the engine against plain eager PyTorch (Markdown + JSON)."
    )
    sizes = " ".join(f"{w}x{h}" for w, h in DEFAULTS.sizes)
    parser.add_argument("--sizes", type=size_argument, nargs="+", default=list(DEFAULTS.sizes), metavar="WxH",
                        help=f"model sizes (default: {sizes})")  # fmt: skip
    parser.add_argument("--iterations", type=int, default=DEFAULTS.iterations,
                        help=f"timed rounds per size (default: {DEFAULTS.iterations})")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=DEFAULTS.warmup,
                        help=f"untimed rounds first (default: {DEFAULTS.warmup})")  # fmt: skip
    parser.add_argument(
        "--batch", type=int, default=DEFAULTS.batch, help=f"images per call (default: {DEFAULTS.batch})"
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, metavar="NAME",
        help=f"engine backends to time (default: all installed; any of {', '.join(BACKENDS)})",
    )  # fmt: skip
    # Not add_engine_arguments: here --compile adds rows instead of changing the engine.
    parser.add_argument("--compile", action="store_true",
                        help="also time the network through torch.compile (slow to compile; on CUDA with graphs)")  # fmt: skip
    parser.add_argument("--weights", metavar="FILE", help=f"{option_help('weights')}; default: the packaged weights")
    parser.add_argument("--device", default=ENGINE_DEFAULTS.device,
                        help=f"{option_help('device')} (default: {ENGINE_DEFAULTS.device})")  # fmt: skip
    parser.add_argument("--precision", default=ENGINE_DEFAULTS.precision, choices=PRECISIONS,
                        help=option_help("precision"))  # fmt: skip
    parser.add_argument("--threads", type=positive_int, metavar="N", help=option_help("threads"))
    parser.add_argument(
        "--out", type=Path, default=Path("out/bench"), metavar="DIR", help="output folder (default: out/bench)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros bench``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--iterations and --batch must be at least 1, --warmup at least 0")
    settings = BenchSettings(
        sizes=tuple(args.sizes), iterations=args.iterations, warmup=args.warmup, batch=args.batch,
        backends=tuple(args.backends) if args.backends else None, compile_network=args.compile,
    )  # fmt: skip
    options = EngineOptions(weights=args.weights, device=args.device, precision=args.precision, threads=args.threads)

    def body() -> int:
        rows, environment = run(settings, options)
        table = markdown_table(rows)
        command = "lednet-ros bench " + " ".join(argv if argv is not None else sys.argv[1:])
        flags = ", ".join(environment["cpu_flags"]) or "none of those listed"  # type: ignore[arg-type]
        header = (f"CPU: {environment['cpu']} (flags: {flags}); "
                  f"device: {environment['device']} ({environment['device_name']}), torch {environment['torch']}, "
                  f"{environment['threads']} threads, peak RSS {environment['peak_rss_mib']} MiB"
                  + (f", peak CUDA memory {environment['peak_cuda_mib']} MiB" if "peak_cuda_mib" in environment else ""))  # fmt: skip
        print(table)
        print(header)
        md, js = write_results(args.out, "bench", command, f"{header}\n\n{table}",
                               {"environment": environment, "rows": [asdict(r) for r in rows]})  # fmt: skip
        print(f"wrote {md} and {js}")
        return 0

    return run_guarded(PROG, body)
