"""What the ``lednet-ros`` commands share: argument types, the engine options, the error guard.

The engine options come from :class:`~lednet_ros.inference.options.EngineOptions`
(names, choices, defaults and help texts); :func:`engine_options` turns the
parsed arguments back into one, so an ``argparse.Namespace`` never leaves
``commands/``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lednet_ros.inference.options import (
    BACKEND_CHOICES,
    MIN_MODEL_SIDE,
    PRECISIONS,
    EngineOptions,
    option_help,
    parse_size,
)
from lednet_ros.limits import DEFAULT_MAX_PIXELS, MAX_ASPECT, MAX_SIDE

if TYPE_CHECKING:
    from lednet_ros.fleet.runner import ClusterOptions

__all__ = [
    "add_alpha_argument",
    "add_engine_arguments",
    "add_fleet_arguments",
    "add_max_pixels_argument",
    "cluster_options",
    "engine_options",
    "positive_int",
    "run_guarded",
    "size_argument",
    "unit_interval",
]

DEFAULTS = EngineOptions()


def size_argument(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. ``1024x512``, both at least 8) for argparse."""
    size = parse_size(text, MIN_MODEL_SIDE)
    if size is None:
        msg = f"expected WIDTHxHEIGHT with both at least {MIN_MODEL_SIDE}, e.g. 1024x512; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return size


def positive_int(text: str) -> int:
    """Parse an integer of at least 1 for argparse."""
    if not text.strip().isdigit() or int(text) < 1:
        msg = f"expected a whole number of at least 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def unit_interval(text: str) -> float:
    """Parse a number in [0, 1] for argparse (overlay alpha)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        msg = f"expected a number from 0 to 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs the model shares (see :class:`EngineOptions`)."""
    group = parser.add_argument_group("model")
    group.add_argument("--weights", metavar="FILE", help=f"{option_help('weights')}; default: the packaged weights")
    group.add_argument(
        "--device", default=DEFAULTS.device, help=f"{option_help('device')} (default: {DEFAULTS.device})"
    )
    group.add_argument("--precision", default=DEFAULTS.precision, choices=PRECISIONS, help=option_help("precision"))
    group.add_argument("--model-size", type=size_argument, metavar="WxH", help=f"{option_help('model_size')}, as WxH")
    group.add_argument("--keep-aspect", action="store_true", help=option_help("keep_aspect"))
    group.add_argument("--threads", type=positive_int, metavar="N", help=option_help("threads"))
    group.add_argument("--backend", default=DEFAULTS.backend, choices=BACKEND_CHOICES, help=option_help("backend"))
    group.add_argument(
        "--no-cuda-graphs", dest="cuda_graphs", action="store_false",
        help="on CUDA, launch the kernels one by one instead of replaying captured CUDA graphs (the default)",
    )  # fmt: skip
    group.add_argument("--compile", dest="compile_network", action="store_true", help=option_help("compile_network"))


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """The :class:`EngineOptions` that :func:`add_engine_arguments` parsed (weights as an absolute path)."""
    return EngineOptions(
        weights=str(Path(args.weights).resolve()) if args.weights else None,
        device=args.device,
        precision=args.precision,
        model_size=args.model_size,
        keep_aspect=args.keep_aspect,
        threads=args.threads,
        backend=args.backend,
        cuda_graphs=args.cuda_graphs,
        compile_network=args.compile_network,
    )


def add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-input-pixels``: the node's frame limits, so that a tool skips (and counts) what the node would reject."""
    parser.add_argument(
        "--max-input-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"skip (and count) larger images, checked from their header before decoding; sides over {MAX_SIDE} "
        f"and aspect ratios over {MAX_ASPECT}:1 are skipped too, as the node does (default: {DEFAULT_MAX_PIXELS})",
    )  # fmt: skip


def add_alpha_argument(parser: argparse.ArgumentParser) -> None:
    """``--alpha``: the palette's weight in overlays."""
    parser.add_argument(
        "--alpha", type=unit_interval, default=0.5, help="palette weight in the overlay, 0..1 (default: 0.5)"
    )


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Many bags: the Ray options (any of them runs on Ray), slicing and resuming (:mod:`lednet_ros.fleet`)."""
    from lednet_ros.fleet.units import DEFAULT_SLICE_FRAMES  # noqa: PLC0415 (rosbags: only for the bag commands)

    group = parser.add_argument_group("fleet (Ray: any of --workers, --address or RAY_ADDRESS runs the job on it)")
    group.add_argument(
        "--workers", type=positive_int, metavar="N",
        help="model workers on Ray (default without --address/RAY_ADDRESS: run in this process, no Ray; "
        "with them: the cluster's CPUs / --cpus-per-worker)",
    )  # fmt: skip
    group.add_argument(
        "--address", metavar="ADDR", help="join this Ray cluster (HOST:PORT; RAY_ADDRESS too) instead of starting one"
    )
    group.add_argument(
        "--cpus-per-worker",
        type=float,
        default=1.0,
        metavar="F",
        help="Ray CPUs (and threads) a worker takes (default: 1)",
    )
    group.add_argument(
        "--gpus-per-worker", type=float, default=0.0, metavar="F", help="GPU share of a worker, e.g. 0.25 (default: 0)"
    )
    group.add_argument(
        "--slice-frames",
        type=positive_int,
        default=DEFAULT_SLICE_FRAMES,
        metavar="N",
        help=f"cut bags with more images into slices of receive time (default: {DEFAULT_SLICE_FRAMES})",
    )
    group.add_argument("--force", action="store_true", help="recompute units already finished in OUT/units.jsonl")


def cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The Ray options :func:`add_fleet_arguments` parsed, or None when none asks for Ray (it is then never imported)."""
    from lednet_ros.fleet.runner import ClusterOptions, wants_ray  # noqa: PLC0415

    if not wants_ray(args.workers, args.address):
        return None
    return ClusterOptions(args.address, args.workers, args.cpus_per_worker, args.gpus_per_worker)


def run_guarded(prog: str, body: Callable[[], int]) -> int:
    """Run a command body; expected failures become one ``prog: error: ...`` line and exit 1."""
    from lednet_ros.errors import LednetError  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format=f"{prog}: %(message)s", stream=sys.stderr)
    try:
        return body()
    except (LednetError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
