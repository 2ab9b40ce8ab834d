"""``lednet-ros``: the package's command line, one subcommand per task.

Each subcommand lives in its own module with a ``main(argv) -> int``; this
module only dispatches, so ``lednet-ros --help`` stays fast (no torch import).
Errors the user can fix (a bad file, an unknown device) print one line and
exit 1; argument mistakes exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lednet_ros.commands.demo", "segment a generated street scene and write PNGs (the quick start)"),
    "segment": ("lednet_ros.commands.segment", "segment image files or folders, write label/colour/overlay PNGs"),
    "bench": ("lednet_ros.commands.bench", "time the engine against plain eager PyTorch; Markdown + JSON"),
    "synth": ("lednet_ros.commands.synth", "generate synthetic street scenes with exact labels (dataset and rosbag2)"),
    "train": ("lednet_ros.commands.train", "train LEDNet (the authors' recipe) on a Cityscapes-layout dataset"),
    "score": ("lednet_ros.commands.score", "mIoU and per-class IoU of weights on a dataset split"),
    "cvat-import": ("lednet_ros.commands.cvat_import", "a CVAT segmentation-mask export as a training set + class set"),
    "evaluate": ("lednet_ros.commands.evaluate", "accuracy and inference time from rosbag2s with ground-truth labels"),
    "label": ("lednet_ros.commands.label", "pre-label bags (labels + confidence bags), mine the hardest frames"),
    "export": ("lednet_ros.commands.export", "TorchScript / ONNX files of a checkpoint, verified against PyTorch"),
    "replay": ("lednet_ros.commands.replay", "replay a rosbag2 through the live node: latency, rate, drops, accuracy"),
    "bench-node": ("lednet_ros.commands.bench_node", "the ROS 2 node end to end: latency, output rate, drops, CPU"),
    "info": ("lednet_ros.commands.info", "show what a weights file holds, the devices and the versions"),
}


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
