"""The parameter table, the launch file and the default parameters agree with what the node declares.

The rules the launch file applies are in :mod:`lednet_ros.ros.launch_arguments`
and tested here directly; ``test_ros2_launch.py`` runs the launch file
with the real ``ros2 launch``.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterDescriptor

from lednet_ros.errors import LednetError
from lednet_ros.inference.options import BACKEND_CHOICES, PRECISIONS, EngineOptions, option_help
from lednet_ros.ros.launch_arguments import (
    NOT_GIVEN,
    PRESETS_FOLDER,
    argument_description,
    cameras_from_image_topics,
    file_value,
    parameter_files,
    parameter_overrides,
    rviz_config,
)
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
    run_time = {"overlay_alpha", "max_input_pixels", "rate_warn_fraction", "jpeg_quality", "cloud_stride"}
    assert {*run_time, "min_confidence", "publish_classes"} == RUN_TIME


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
        ({"precision": "fp8"}, "precision='fp8' is not one of auto, fp32, fp16, bf16"),
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


def test_every_node_parameter_is_a_launch_argument_described_by_the_table() -> None:
    source = LAUNCH.read_text()
    launch_only = _module_constant("LAUNCH_ARGUMENTS")
    assert not set(launch_only) & declared_parameters()  # a parameter argument is declared from the table only
    assert "for p in PARAMETERS" in source and "rules.argument_description(p)" in source
    for parameter in PARAMETERS:
        text = argument_description(parameter)
        assert text.startswith(parameter.description) and "Not given" in text
    for topic in NODE_TOPICS:
        assert f'("{topic}",' in source, f"{topic} is not remapped"


def test_only_the_parameters_given_become_overrides_typed_as_declared() -> None:
    given = {"overlay_alpha": "1", "model_width": "64", "keep_aspect": "true", "cameras": "[front,rear]",
             "device": "cuda:1", "weights": NOT_GIVEN, "namespace": "x", "preset": "cpu"}  # fmt: skip
    assert parameter_overrides(given) == {
        "overlay_alpha": 1.0, "model_width": 64, "keep_aspect": True, "cameras": ["front", "rear"], "device": "cuda:1",
    }  # fmt: skip
    assert parameter_overrides({}) == {}
    assert parameter_overrides({"cameras": "front"}) == {"cameras": ["front"]}
    for name, text in (("overlay_alpha", "half"), ("model_width", "1.5"), ("keep_aspect", "yes please")):
        with pytest.raises(LednetError, match=f"launch argument {name}:="):
            parameter_overrides({name: text})


def test_parameter_files_are_layered_preset_then_params_file(tmp_path: Path) -> None:
    share = tmp_path / "share"
    (share / PRESETS_FOLDER).mkdir(parents=True)
    preset = share / PRESETS_FOLDER / "cpu.yaml"
    preset.write_text("/**:\n  ros__parameters:\n    cameras: ['a']\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    cameras: ['b', 'c']\n")
    assert parameter_files(share, "cpu", str(mine)) == [preset, mine]
    assert parameter_files(share, "", "") == []
    assert file_value([preset, mine], "cameras") == ["b", "c"] and file_value([preset], "overlay_alpha") is None
    with pytest.raises(LednetError, match="unknown preset 'gpu': one of cpu"):
        parameter_files(share, "gpu", "")
    with pytest.raises(LednetError, match="does not exist"):
        parameter_files(share, "", str(tmp_path / "missing.yaml"))


def test_image_topics_become_cameras_with_their_own_remaps() -> None:
    cameras, remaps = cameras_from_image_topics(["/front/image_raw", "/rear/usb_cam/image"])
    assert cameras == ["/front", "/rear/usb_cam"]
    assert remaps == [
        ("/front/image", "/front/image_raw"), ("/front/image/compressed", "/front/image_raw/compressed"),
        ("/rear/usb_cam/image", "/rear/usb_cam/image"), ("/rear/usb_cam/image/compressed", "/rear/usb_cam/image/compressed"),
    ]  # fmt: skip
    with pytest.raises(LednetError, match="not an absolute topic"):
        cameras_from_image_topics(["front/image_raw"])
    with pytest.raises(LednetError, match="two cameras in namespace '/front'"):
        cameras_from_image_topics(["/front/image_raw", "/front/image_rect"])


@pytest.mark.parametrize(
    ("namespace", "cameras", "overlays"),
    [
        ("", [""], ["/segmentation/overlay"]),
        ("/front", [""], ["/front/segmentation/overlay"]),
        ("front", ["left", "/abs"], ["/front/left/segmentation/overlay", "/abs/segmentation/overlay"]),
    ],
)
def test_rviz_config_names_the_topics_the_node_publishes(
    namespace: str, cameras: list[str], overlays: list[str]
) -> None:
    template = (REPO / "config" / "segmentation.rviz").read_text()
    config = yaml.safe_load(rviz_config(template, namespace, cameras))
    displays = config["Visualization Manager"]["Displays"]
    assert len(displays) == 2 * len(cameras) + 1  # overlay and colours per camera; the cloud of the first only
    assert [d["Topic"]["Value"] for d in displays if d["Topic"]["Value"].endswith("/overlay")] == overlays
    assert len({d["Name"] for d in displays}) == len(displays)


def test_default_params_file_names_only_declared_parameters_with_valid_values() -> None:
    data = yaml.safe_load((REPO / "config" / "segmentation.yaml").read_text())
    parameters = data["/**"]["ros__parameters"]
    assert parameters == _defaults()  # the template lists every parameter, at the node's default
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


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('a: &a ["x","x"]\nb: &b [*a,*a]\nnode: {ros__parameters: {cameras: *b}}\n', "alias"),
        ("- just\n- a list\n", "maps node names"),
    ],
)
def test_a_hostile_params_file_is_one_clear_error_in_the_launch_process(tmp_path: Path, text: str, reason: str) -> None:
    """The launch file reads params_file itself (to layer it): with the node's limits, not plain yaml.safe_load."""
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(LednetError, match=reason):
        file_value([params], "cameras")
