"""``lednet-ros``: the package's command line, one subcommand per task.

Each subcommand lives in its own module with a ``main(argv) -> int``; this
module only dispatches, so ``lednet-ros --help`` stays fast (no torch import).
Errors the user can fix (a bad file, an unknown device) print one line and
exit 1; argument mistakes exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lednet_ros.engine import SegmentationEngine

__all__ = [
    "COMMANDS",
    "add_alpha_argument",
    "add_engine_arguments",
    "engine_from_args",
    "main",
    "node_process_settings",
    "parse_size",
    "positive_int",
    "run_guarded",
    "split_size",
    "stop_node_process",
    "unit_interval",
    "write_results",
]

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lednet_ros.demo", "segment a generated street scene and write PNGs (the quick start)"),
    "segment": ("lednet_ros.segment", "segment image files or folders, write label/colour/overlay PNGs"),
    "bench": ("lednet_ros.bench", "time the engine against plain eager PyTorch; Markdown + JSON"),
    "synth": ("lednet_ros.synth", "generate synthetic street scenes with exact labels (dataset and rosbag2)"),
    "train": ("lednet_ros.train", "train LEDNet (the authors' recipe) on a Cityscapes-layout dataset"),
    "score": ("lednet_ros.score", "mIoU and per-class IoU of weights on a dataset split"),
    "evaluate": ("lednet_ros.evaluate", "accuracy and inference time from a rosbag2 with ground-truth labels"),
    "export": ("lednet_ros.export", "TorchScript / ONNX files of a checkpoint, verified against PyTorch"),
    "replay": ("lednet_ros.replay", "replay a rosbag2 through the live node: latency, rate, drops, accuracy"),
    "bench-node": ("lednet_ros.node_bench", "the ROS 2 node end to end: latency, output rate, drops, CPU"),
    "info": ("lednet_ros.info", "show what a weights file holds, the devices and the versions"),
}


def split_size(text: str, minimum: int) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` (e.g. ``1024x512``) -> (width, height), both at least ``minimum``; None if it is not that."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < minimum or int(height) < minimum:
        return None
    return (int(width), int(height))


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. ``1024x512``, both at least 8) for argparse."""
    size = split_size(text, 8)
    if size is None:
        msg = f"expected WIDTHxHEIGHT with both at least 8, e.g. 1024x512; got {text!r}"
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
    """The options every command that runs the model shares."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--weights",
        metavar="FILE",
        help="weights file (project, authors' or pytorchcv format); default: the packaged weights",
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    group.add_argument(
        "--precision", default="auto", choices=["auto", "fp32", "fp16"], help="default: fp16 on CUDA, fp32 on CPU"
    )
    group.add_argument(
        "--model-size",
        type=parse_size,
        metavar="WxH",
        help="network input size (default: the weights' training size, else 1024x512)",
    )
    group.add_argument(
        "--keep-aspect", action="store_true", help="keep the image's aspect ratio: model height follows the image"
    )
    group.add_argument(
        "--threads", type=positive_int, metavar="N", help="CPU threads for torch (default: torch's choice)"
    )
    group.add_argument(
        "--backend", default="auto", choices=["auto", "torch", "onnxruntime", "openvino"],
        help="where the network runs (default auto: ONNX Runtime, else OpenVINO, else PyTorch on the CPU; PyTorch on CUDA)",
    )  # fmt: skip
    group.add_argument(
        "--no-cuda-graphs", dest="cuda_graphs", action="store_false",
        help="on CUDA, launch kernels one by one instead of replaying a captured CUDA graph per image size",
    )  # fmt: skip
    group.add_argument(
        "--compile", dest="compile_network", action="store_true",
        help="run the network through torch.compile (PyTorch backend; compiling takes tens of seconds)",
    )  # fmt: skip


def node_process_settings(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The model options of :func:`add_engine_arguments` as ``segmentation_node`` parameters.

    Returns the ``-p name:=value`` arguments for ``--ros-args`` and the
    environment to add (``--threads`` becomes ``OMP_NUM_THREADS``: the node
    has no threads parameter).
    """
    params = {"device": args.device, "precision": args.precision, "backend": args.backend,
              "keep_aspect": "true" if args.keep_aspect else "false",
              "cuda_graphs": "true" if args.cuda_graphs else "false",
              "compile_network": "true" if args.compile_network else "false"}  # fmt: skip
    if args.weights:
        params["weights"] = str(Path(args.weights).resolve())
    if args.model_size:
        params["model_width"], params["model_height"] = (str(v) for v in args.model_size)
    ros_args = [item for name, value in params.items() for item in ("-p", f"{name}:={value}")]
    return ros_args, ({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})


def stop_node_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 20.0) -> None:
    """Stop a node started by a command: SIGINT (it shuts down cleanly), SIGKILL after ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def add_alpha_argument(parser: argparse.ArgumentParser) -> None:
    """``--alpha``: the palette's weight in overlays."""
    parser.add_argument(
        "--alpha", type=unit_interval, default=0.5, help="palette weight in the overlay, 0..1 (default: 0.5)"
    )


def write_results(out: Path, stem: str, command: str, markdown: str, data: dict[str, object]) -> tuple[Path, Path]:
    """Write ``OUT/STEM.md`` (the command, then ``markdown``) and ``OUT/STEM.json`` (``data`` plus the command)."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(f"# {command}\n\n{markdown}\n", encoding="utf-8")
    js.write_text(json.dumps({"command": command, **data}, indent=2) + "\n", encoding="utf-8")
    return md, js


def engine_from_args(args: argparse.Namespace) -> SegmentationEngine:
    """Build the engine the shared options describe."""
    from lednet_ros.engine import SegmentationEngine  # noqa: PLC0415 (heavy import, only when needed)

    return SegmentationEngine(
        args.weights,
        device=args.device,
        precision=args.precision,
        model_size=args.model_size,
        keep_aspect=args.keep_aspect,
        num_threads=args.threads,
        backend=args.backend,
        cuda_graphs=args.cuda_graphs,
        compile_network=args.compile_network,
    )


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros`` and ``python -m lednet_ros``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="lednet-ros",
        description="LEDNet semantic segmentation for ROS 2: tools around the segmentation node.",
        epilog=f"commands:\n{listing}\n\nRun 'lednet-ros COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    if not argv:
        parser.print_help()
        return 2
    parsed = parser.parse_args(argv[:1])
    module = importlib.import_module(COMMANDS[parsed.command][0])
    return int(module.main(argv[1:]))
