"""What an engine is asked to be: the one definition of its options.

:class:`EngineOptions` is the only place that names them, lists their
choices and sets their defaults. The command line (``--device``,
``--precision``, ...) is built from it, the node's parameters are declared
from it, a node started by a command gets it as ``-p name:=value`` arguments,
and :class:`~lednet_ros.inference.engine.SegmentationEngine` takes it. This
module imports neither torch nor rclpy, so ``lednet-ros --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from lednet_ros.model.paper import PAPER_INPUT_SIZE

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine
    from lednet_ros.model.classes import ClassConfig

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "DEFAULT_MODEL_SIZE",
    "MIN_MODEL_SIDE",
    "PRECISIONS",
    "EngineOptions",
    "option_help",
    "parse_size",
]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""``auto``: fp16 on CUDA; on the CPU bf16 where the CPU has native bf16 and the backend runs it, else fp32."""

BACKENDS = ("torch", "onnxruntime", "openvino")
"""Where the network can run (see :mod:`lednet_ros.inference.backends`)."""

BACKEND_CHOICES = ("auto", *BACKENDS)

DEFAULT_MODEL_SIZE = PAPER_INPUT_SIZE
"""(width, height) the network runs at when neither the options nor the weights say."""

MIN_MODEL_SIDE = 8
"""The network downsamples by 8: a smaller model input has no output pixel."""


def parse_size(text: str, minimum: int = 1) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` (e.g. ``1024x512``) -> (width, height), both at least ``minimum``; None if it is not that."""
    width, sep, height = text.strip().lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < minimum or int(height) < minimum:
        return None
    return (int(width), int(height))


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class EngineOptions:
    """How to build a :class:`~lednet_ros.inference.engine.SegmentationEngine`.

    Each field's ``help`` metadata says what the option is; the command line
    and the node's parameter descriptors show it, each adding how its own
    syntax spells "unset" (an absent flag, an empty string, a 0).
    """

    weights: str | None = field(default=None, metadata=_help("weights file (project, authors' or pytorchcv format)"))
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N; auto falls back to the CPU"))
    precision: str = field(
        default="auto",
        metadata=_help(
            "auto (fp16 on CUDA; on the CPU bf16 where it is native and the backend runs it, else fp32), "
            "fp32, fp16 (CUDA) or bf16 (a CPU with native bf16: openvino or torch backend)"
        ),
    )
    model_size: tuple[int, int] | None = field(
        default=None, metadata=_help("network input size (default: the weights' training size, else 1024x512)")
    )
    keep_aspect: bool = field(default=False, metadata=_help("derive the model height from each image's aspect ratio"))
    threads: int | None = field(default=None, metadata=_help("CPU threads for torch and ONNX Runtime; default: theirs"))
    backend: str = field(
        default="auto",
        metadata=_help(
            "where the network runs: auto (on the CPU the fastest installed for the precision: in fp32 ONNX Runtime, "
            "else OpenVINO, else PyTorch; in bf16 OpenVINO, else PyTorch; PyTorch on CUDA), "
            "torch, onnxruntime or openvino"
        ),
    )
    cuda_graphs: bool = field(
        default=True,
        metadata=_help(
            "CUDA only: replay the whole pipeline as one CUDA graph per image size and batch "
            "(captured on first use or at warm-up)"
        ),
    )
    compile_network: bool = field(
        default=False,
        metadata=_help(
            "run the network through torch.compile (PyTorch backend; compiles for tens of seconds per shape)"
        ),
    )

    def build_engine(self, *, class_config: ClassConfig | None = None) -> SegmentationEngine:
        """The engine these options describe (imports torch).

        Raises:
            LednetError: unusable device, precision or weights.
        """
        from lednet_ros.inference.engine import SegmentationEngine  # noqa: PLC0415 (torch only when needed)

        return SegmentationEngine(options=self, class_config=class_config)


def option_help(name: str) -> str:
    """The help text of one :class:`EngineOptions` field."""
    return next(f.metadata["help"] for f in fields(EngineOptions) if f.name == name)
