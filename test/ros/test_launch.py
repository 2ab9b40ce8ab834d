"""The launch file and the default parameters agree with what the node declares.

``launch``/``launch_ros`` are not installable here, so the launch file is read
as Python source (it is not run); where they are importable, the
launch description is also built for real.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from lednet_ros.ros.node import OUTPUTS, SegmentationNode

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
    source = (REPO / "lednet_ros" / "node.py").read_text()
    return set(re.findall(r'self\.declare_parameter\(\s*"(\w+)"', source))


def test_the_node_reads_exactly_the_parameters_it_declares() -> None:
    assert declared_parameters() == set(SegmentationNode._parameter_names)


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


def test_default_params_file_names_only_declared_parameters_with_valid_values() -> None:
    data = yaml.safe_load((REPO / "config" / "segmentation.yaml").read_text())
    parameters = data["/**"]["ros__parameters"]
    assert set(parameters) <= declared_parameters()
    SegmentationNode._check_startup_parameters({**dict.fromkeys(declared_parameters()), **parameters})


def test_rviz_config_shows_node_outputs() -> None:
    rviz = yaml.safe_load((REPO / "config" / "segmentation.rviz").read_text())
    topics = [d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]]
    assert topics and all(t.removeprefix("/segmentation/") in (*OUTPUTS, "points") for t in topics)
    cloud = next(d for d in rviz["Visualization Manager"]["Displays"] if d["Class"].endswith("PointCloud2"))
    assert cloud["Color Transformer"] == "RGB8"  # the rgb field, packed as point_cloud.pack_rgb does
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
