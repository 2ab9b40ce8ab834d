"""The parameter table, the launch file and the default parameters agree with what the node declares.

``launch``/``launch_ros`` are not installable here, so the launch file is read
as Python source (it is not run); where they are importable, the
launch description is also built for real.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterDescriptor

from lednet_ros.errors import LednetError
from lednet_ros.inference.options import BACKEND_CHOICES, PRECISIONS, EngineOptions, option_help
from lednet_ros.ros.parameters import (
    PARAMETER_NAMES,
    PARAMETERS,
    RUN_TIME,
    check_values,
    engine_options,
    engine_values,
)
from lednet_ros.ros.topics import OUTPUTS

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "segmentation.launch.py"
NODE_TOPICS = {"image", "image/compressed", "camera_info"}


def _module_constant(name: str) -> dict:
    tree = ast.parse(LAUNCH.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return {key.value: value for key, value in zip(node.value.keys, node.value.values, strict=True)}  # type: ignore[union-attr]
    raise AssertionError(f"{name} not found in {LAUNCH}")


def declared_parameters() -> set[str]:
    return set(PARAMETER_NAMES)


def _defaults() -> dict[str, object]:
    return {parameter.name: parameter.default for parameter in PARAMETERS}


def test_every_parameter_is_described_once_and_ranges_hold_their_defaults() -> None:
    assert len(PARAMETER_NAMES) == len(set(PARAMETER_NAMES))
    for parameter in PARAMETERS:
        descriptor = parameter.descriptor()
        assert isinstance(descriptor, ParameterDescriptor) and descriptor.description, parameter.name
        assert descriptor.read_only == (parameter.name not in RUN_TIME)
        if parameter.choices:
            assert parameter.default in parameter.choices
            assert descriptor.additional_constraints == f"one of: {', '.join(parameter.choices)}"
        if parameter.value_range is not None:
            low, high = parameter.value_range
            assert low <= parameter.default <= high, parameter.name
            declared = descriptor.integer_range or descriptor.floating_point_range
            assert len(declared) == 1 and (declared[0].from_value, declared[0].to_value) == (low, high)
    assert {"overlay_alpha", "max_input_pixels", "rate_warn_fraction"} == RUN_TIME


def test_engine_parameters_come_from_engine_options() -> None:
    table = {parameter.name: parameter for parameter in PARAMETERS}
    assert table["precision"].choices == PRECISIONS and table["backend"].choices == BACKEND_CHOICES
    for name in ("device", "precision", "backend", "keep_aspect", "cuda_graphs", "compile_network"):
        assert table[name].description == option_help(name)
    assert option_help("weights") in table["weights"].description
    assert option_help("model_size") in table["model_width"].description
    defaults = _defaults()
    assert engine_options(defaults) == EngineOptions()  # the node's defaults are the engine's
    assert set(engine_values(EngineOptions())) <= declared_parameters()
    options = EngineOptions(weights="w.pt", device="cpu", precision="fp32", model_size=(64, 32), keep_aspect=True,
                            backend="torch", cuda_graphs=False, compile_network=True)  # fmt: skip
    assert engine_options({**defaults, **engine_values(options)}) == options
    covered = {f.name for f in fields(EngineOptions)} - {"threads"}  # the node has no threads parameter
    assert {f.name for f in fields(options) if getattr(options, f.name) != getattr(EngineOptions(), f.name)} == covered


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output_resolution": "sideways"}, "output_resolution='sideways' is not one of input, model"),
        ({"precision": "fp8"}, "precision='fp8' is not one of auto, fp32, fp16"),
        ({"model_width": 64}, "set both model_width and model_height"),
        ({"warmup_image_sizes": ["1920by1080"]}, "is not WIDTHxHEIGHT"),
        ({"cameras": []}, "cameras is empty"),
        ({"cameras": ["a", "a"]}, "lists a namespace twice"),
    ],
)
def test_check_values_refuses_what_descriptors_cannot_express(change: dict, message: str) -> None:
    check_values(_defaults())
    with pytest.raises(LednetError, match=message):
        check_values({**_defaults(), **change})


def test_every_launch_argument_is_a_declared_parameter_or_a_remapping() -> None:
    parameters = _module_constant("PARAMETER_ARGUMENTS")
    remaps = _module_constant("REMAP_ARGUMENTS")
    assert set(parameters) <= declared_parameters()
    targets = {ast.literal_eval(value)[2] for value in remaps.values()}
    assert targets <= NODE_TOPICS
    source = LAUNCH.read_text()
    for topic in NODE_TOPICS:
        assert f'("{topic}",' in source, f"{topic} is not remapped"
    for argument in ("namespace", "params_file", "rviz", "image_topic", "camera_info_topic", "device", "precision",
                     "model_width", "model_height", "weights"):  # fmt: skip
        assert f'"{argument}"' in source
    defaults = _defaults()
    for name, value in parameters.items():  # a launch argument's default is the node's
        default = ast.literal_eval(value.elts[0])  # (default, type, description); the type is a name
        text = str(defaults[name]).lower() if isinstance(defaults[name], bool) else str(defaults[name])
        assert default == text, name


def test_default_params_file_names_only_declared_parameters_with_valid_values() -> None:
    data = yaml.safe_load((REPO / "config" / "segmentation.yaml").read_text())
    parameters = data["/**"]["ros__parameters"]
    assert set(parameters) <= declared_parameters()
    check_values({**_defaults(), **parameters})
    table = {parameter.name: parameter for parameter in PARAMETERS}
    for name, value in parameters.items():  # types and declared ranges, which rclpy enforces when it loads the file
        parameter = table[name]
        assert type(value) is type(parameter.default), (name, value)
        if parameter.value_range is not None:
            assert parameter.value_range[0] <= value <= parameter.value_range[1], (name, value)


def test_rviz_config_shows_node_outputs() -> None:
    rviz = yaml.safe_load((REPO / "config" / "segmentation.rviz").read_text())
    topics = [d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]]
    assert topics and all(t.removeprefix("/segmentation/") in (*OUTPUTS, "points") for t in topics)
    cloud = next(d for d in rviz["Visualization Manager"]["Displays"] if d["Class"].endswith("PointCloud2"))
    assert cloud["Color Transformer"] == "RGB8"  # the rgb field, packed as msgs.cloud.pack_rgb does
    assert all(d["Topic"]["Reliability Policy"] == "Reliable" for d in rviz["Visualization Manager"]["Displays"])


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None,
    reason="launch_ros is not installable from PyPI; runs on a ROS 2 install",
)
def test_launch_description_builds_with_launch_ros() -> None:
    spec = importlib.util.spec_from_file_location("segmentation_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    description = module.generate_launch_description()
    names = {a.name for a in description.get_launch_arguments()}
    assert {"image_topic", "params_file", "rviz", "device"} <= names
