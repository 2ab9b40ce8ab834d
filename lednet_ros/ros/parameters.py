"""The node's parameters: one table that declares, describes and validates them.

Each :class:`NodeParameter` row holds a parameter's name, default,
description, whether it may change at run time, and its range or choices.
The node declares every parameter from :data:`PARAMETERS`, reads their
values back by the same names, and the launch file test, ``ros2 param
describe`` and the node process's command line see the same rows.

The engine's parameters (weights, device, precision, backend, model size,
keep_aspect, cuda_graphs, compile_network) take their defaults, help texts
and choices from :class:`~lednet_ros.inference.options.EngineOptions`, so a
command's ``--help`` and ``ros2 param describe`` cannot disagree.

Ranges are declared in the descriptors, where rclpy enforces them (and the
types, and read-only) before the node's set-parameters callback runs.
Descriptors cannot restrict a string to a list of values, so the choices are
written in ``additional_constraints`` for the reader and checked once, by
:func:`check_values` at start-up (every choice parameter is read-only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import NameValidationException
from rclpy.expand_topic_name import expand_topic_name
from rclpy.validate_full_topic_name import validate_full_topic_name

from lednet_ros.errors import ImageEncodingError, LednetError
from lednet_ros.inference.options import BACKEND_CHOICES, PRECISIONS, EngineOptions, option_help, parse_size
from lednet_ros.limits import DEFAULT_MAX_PIXELS, check_image_size, check_model_size
from lednet_ros.msgs.cloud import CLOUD_LAYOUTS
from lednet_ros.msgs.compressed_output import COLOUR_FORMATS, DEFAULT_JPEG_QUALITY
from lednet_ros.ros.topics import (
    CAMERA_INFO,
    CLOUD_OUTPUTS,
    COMPRESSED_IMAGE,
    IMAGE,
    LABEL_INFO,
    OUTPUTS,
    POINTS,
    in_namespace,
    output_topic,
)

__all__ = [
    "PARAMETERS",
    "PARAMETER_NAMES",
    "RUN_TIME",
    "NodeParameter",
    "ParameterValue",
    "check_values",
    "declare_parameters",
    "engine_options",
    "engine_values",
    "image_sizes",
]

ParameterValue = str | int | float | bool | Sequence[str]

_RELIABILITIES = ("best_effort", "reliable")
_MAX_MODEL_SIDE = 8192


@dataclass(frozen=True)
class NodeParameter:
    """One row of the table: a parameter as the node declares it."""

    name: str
    default: ParameterValue
    description: str
    run_time: bool = False
    """Changeable while the node runs; all others are read-only (fixed at start-up)."""
    choices: tuple[str, ...] = ()
    """The allowed values of a string parameter (empty: any string)."""
    value_range: tuple[float, float] | None = None
    """Inclusive (from, to) of a number; integer or floating point as the default is."""

    def descriptor(self) -> ParameterDescriptor:
        """The ``ParameterDescriptor`` the node declares this parameter with."""
        text = f"{self.description} (changeable at run time)" if self.run_time else self.description
        descriptor = ParameterDescriptor(description=text, read_only=not self.run_time)
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        if self.value_range is not None:
            low, high = self.value_range
            if isinstance(self.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
        return descriptor


def _engine_default(name: str) -> Any:
    return next(f.default for f in fields(EngineOptions) if f.name == name)


def _model_side(side: str) -> NodeParameter:
    return NodeParameter(
        f"model_{side}", 0, f"{option_help('model_size')}: its {side}, 0 for that default (set both or neither)",
        value_range=(0, _MAX_MODEL_SIDE),
    )  # fmt: skip


_ENGINE = (
    NodeParameter(
        "weights", _engine_default("weights") or "", f"{option_help('weights')}; empty: the packaged weights"
    ),
    NodeParameter("device", _engine_default("device"), option_help("device")),
    NodeParameter("precision", _engine_default("precision"), option_help("precision"), choices=PRECISIONS),
    NodeParameter("backend", _engine_default("backend"), option_help("backend"), choices=BACKEND_CHOICES),
    _model_side("width"),
    _model_side("height"),
    NodeParameter("keep_aspect", _engine_default("keep_aspect"), option_help("keep_aspect")),
    NodeParameter("cuda_graphs", _engine_default("cuda_graphs"), option_help("cuda_graphs")),
    NodeParameter("compile_network", _engine_default("compile_network"), option_help("compile_network")),
)

PARAMETERS: tuple[NodeParameter, ...] = (
    *_ENGINE,
    NodeParameter("class_config", "", "class names/colours YAML; empty: the weights' own"),
    NodeParameter(
        "warmup_image_sizes",
        [""],
        "camera sizes ('WIDTHxHEIGHT') to prepare at start-up, so the first "
        "frame is not slow; empty: the model size (unless keep_aspect)",
    ),
    NodeParameter(
        "output_resolution",
        "input",
        "'input': outputs at the camera's size; 'model': at the network's",
        choices=("input", "model"),
    ),
    NodeParameter("overlay_alpha", 0.5, "palette weight in the overlay", run_time=True, value_range=(0.0, 1.0)),
    NodeParameter(
        "input_transport",
        "raw",
        "'raw' subscribes image; 'compressed' subscribes image/compressed",
        choices=("raw", "compressed"),
    ),
    NodeParameter(
        "compressed_format",
        "jpeg",
        "codec of segmentation/color/compressed and overlay/compressed, as image_transport's compressed "
        "plugin writes it (labels and confidence are always PNG: lossless)",
        choices=COLOUR_FORMATS,
    ),
    NodeParameter(
        "jpeg_quality",
        DEFAULT_JPEG_QUALITY,
        "JPEG quality of the colour /compressed outputs (image_transport's default)",
        run_time=True,
        value_range=(1, 100),
    ),
    NodeParameter(
        "input_qos_reliability",
        "best_effort",
        "best_effort (camera drivers, bag play) or reliable",
        choices=_RELIABILITIES,
    ),
    NodeParameter(
        "input_qos_depth",
        5,
        "input queue depth (5: sensor-data QoS; the node still works on the newest frame and counts the others "
        "as dropped, where a depth-1 queue would let DDS replace them unseen while the node is busy)",
        value_range=(1, 100),
    ),
    NodeParameter(
        "output_qos_reliability", "reliable", "reliable (rviz2, bag record) or best_effort", choices=_RELIABILITIES
    ),
    NodeParameter("output_qos_depth", 1, "output queue depth", value_range=(1, 100)),
    NodeParameter(
        "max_input_pixels",
        DEFAULT_MAX_PIXELS,
        "larger images are rejected (so are sides over 16384 and, past 1024, aspect ratios over 16:1)",
        run_time=True,
        value_range=(1, 2**31 - 1),
    ),
    NodeParameter("cameras", [""], "camera namespaces, each subscribing <ns>/image; '' is the node's own namespace"),
    NodeParameter("diagnostics_period", 1.0, "seconds between /diagnostics messages", value_range=(0.1, 60.0)),
    NodeParameter(
        "rate_warn_fraction",
        0.1,
        "WARN when the output rate falls this fraction below the input rate",
        run_time=True,
        value_range=(0.0, 1.0),
    ),
    NodeParameter(
        "depth_topic",
        "",
        "aligned depth image (16UC1 mm or 32FC1 m) of the first camera; set: publish "
        "segmentation/points, a semantic PointCloud2 (camera_info from the sibling topic camera_info)",
    ),
    NodeParameter(
        "depth_transport",
        "raw",
        "'raw' subscribes depth_topic; 'compressedDepth' subscribes <depth_topic>/compressedDepth "
        "(image_transport's compressedDepth: PNG or RVL)",
        choices=("raw", "compressedDepth"),
    ),
    NodeParameter(
        "cloud_stride", 1, "use every N-th depth row and column for the cloud", run_time=True, value_range=(1, 64)
    ),
    NodeParameter(
        "cloud_layout",
        "packed",
        "packed: the valid points in one row; organized: one point per depth pixel (or cloud_stride cell), NaN "
        "where there is no depth, and segmentation/cloud_labels and cloud_confidence at its size (for Nav2)",
        choices=CLOUD_LAYOUTS,
    ),
    NodeParameter(
        "min_confidence",
        0.0,
        "pixels whose class probability is below this become 255 (ignore) in labels, color and the cloud; "
        "0: off; segmentation/label_info's threshold",
        run_time=True,
        value_range=(0.0, 1.0),
    ),
    NodeParameter(
        "publish_classes",
        [""],
        "class names to publish; other classes become 255 and segmentation/label_info lists only these; [''] = all",
        run_time=True,
    ),
    NodeParameter(
        "depth_tolerance",
        0.02,
        "seconds between a colour and a depth stamp that still pair (nearest stamp wins)",
        value_range=(0.0, 1.0),
    ),
)
"""Every parameter of the node."""

PARAMETER_NAMES = tuple(parameter.name for parameter in PARAMETERS)
RUN_TIME = frozenset(parameter.name for parameter in PARAMETERS if parameter.run_time)
"""The parameters the node applies while running (see ``SegmentationNode._on_set_parameters``)."""


def declare_parameters(node: Any) -> dict[str, Any]:
    """Declare every parameter of :data:`PARAMETERS` on ``node``; their values (overrides applied) by name.

    Raises:
        rclpy.exceptions.ParameterException: an override of the wrong type
            or outside its declared range.
        LednetError: a value that :func:`check_values` refuses.
    """
    declared = node.declare_parameters("", [(p.name, p.default, p.descriptor()) for p in PARAMETERS])
    values = {parameter.name: parameter.value for parameter in declared}
    for parameter in PARAMETERS:
        if isinstance(parameter.default, list) and values[parameter.name] is None:
            # ``name:=[]``: rcl cannot type an empty list and leaves the parameter unset; it means empty here
            values[parameter.name] = []
    check_values(values)
    return values


def check_values(values: Mapping[str, Any]) -> None:
    """Check what the descriptors cannot express: string choices and rules between parameters.

    Raises:
        LednetError: the first problem found, naming the parameter.
    """
    for parameter in PARAMETERS:
        if parameter.choices and values[parameter.name] not in parameter.choices:
            msg = f"parameter {parameter.name}={values[parameter.name]!r} is not one of {', '.join(parameter.choices)}"
            raise LednetError(msg)
    if bool(values["model_width"]) != bool(values["model_height"]):
        msg = "set both model_width and model_height, or neither (0: the weights' training size)"
        raise LednetError(msg)
    if values["model_width"] and values["model_height"]:
        check_model_size(values["model_width"], values["model_height"])
    for width, height in image_sizes(values["warmup_image_sizes"]):
        try:
            check_image_size(width, height, values["max_input_pixels"], "warm-up size")
        except ImageEncodingError as exc:
            msg = f"parameter warmup_image_sizes: {exc}"
            raise LednetError(msg) from None
    cameras = list(values["cameras"])
    if not cameras:
        msg = "parameter cameras is empty: list at least one namespace ('' for the node's own)"
        raise LednetError(msg)
    if len(set(cameras)) != len(cameras):
        msg = f"parameter cameras lists a namespace twice: {cameras}"
        raise LednetError(msg)
    for namespace in cameras:
        outputs = (*OUTPUTS, POINTS, *CLOUD_OUTPUTS, LABEL_INFO)
        for name in (IMAGE, COMPRESSED_IMAGE, CAMERA_INFO, *(output_topic(o) for o in outputs)):
            _check_topic("cameras", namespace, in_namespace(namespace, name))
    if values["depth_topic"]:
        _check_topic("depth_topic", values["depth_topic"], values["depth_topic"])


def _check_topic(parameter: str, value: str, topic: str) -> None:
    """Refuse a topic name rclpy would refuse when subscribing (a traceback at start-up otherwise).

    Expanded as the node would expand it; the node's name only matters to ``~``
    and ``{node}``, which are valid whatever it is, and the namespace ``/`` stands in for any.

    Raises:
        LednetError: the parameter, the topic and rcl's reason.
    """
    try:
        validate_full_topic_name(expand_topic_name(topic, "lednet_segmentation", "/"))
    except (ValueError, NameValidationException) as exc:
        reason = str(exc).split(", at /")[0].splitlines()[0]  # rcl appends its source file
        msg = f"parameter {parameter}={value!r} gives an invalid topic {topic!r}: {reason}"
        raise LednetError(msg) from None


def image_sizes(texts: list[str]) -> list[tuple[int, int]]:
    """``warmup_image_sizes`` as (width, height) pairs; empty strings are skipped.

    Raises:
        LednetError: an entry that is not ``WIDTHxHEIGHT``.
    """
    sizes = []
    for text in texts:
        if not text:
            continue
        size = parse_size(text, 1)
        if size is None:
            msg = f"image size {text!r} is not WIDTHxHEIGHT (e.g. 1920x1080)"
            raise LednetError(msg)
        sizes.append(size)
    return sizes


def engine_options(values: Mapping[str, Any]) -> EngineOptions:
    """The engine the node's parameter ``values`` ask for (the inverse of :func:`engine_values`)."""
    width, height = values["model_width"], values["model_height"]
    return EngineOptions(
        weights=values["weights"] or None,
        device=values["device"],
        precision=values["precision"],
        model_size=(width, height) if width and height else None,
        keep_aspect=values["keep_aspect"],
        backend=values["backend"],
        cuda_graphs=values["cuda_graphs"],
        compile_network=values["compile_network"],
    )


def engine_values(options: EngineOptions) -> dict[str, ParameterValue]:
    """``options`` as the node's engine parameters (every one of them; ``threads`` has none)."""
    width, height = options.model_size or (0, 0)
    return {
        "weights": options.weights or "", "device": options.device, "precision": options.precision,
        "backend": options.backend, "model_width": width, "model_height": height,
        "keep_aspect": options.keep_aspect, "cuda_graphs": options.cuda_graphs,
        "compile_network": options.compile_network,
    }  # fmt: skip
