"""What ``launch/segmentation.launch.py`` computes from its arguments, without importing launch.

The launch file only wires launch actions; the rules live here, where tests
can call them directly:

- every node parameter of :data:`~lednet_ros.ros.parameters.PARAMETERS` is
  a launch argument of the same name, described by the same row. Its
  launch default is :data:`NOT_GIVEN`: only arguments given on the command
  line become overrides, so a ``preset`` or ``params_file`` can set every
  parameter (before, the ten argument defaults always won over the file);
- parameters are layered preset, then ``params_file``, then the command
  line (:func:`parameter_files`, :func:`parameter_overrides`);
- ``image_topics`` gives one camera per image topic, its namespace the
  topic's parent, with its own remaps (:func:`cameras_from_image_topics`);
- rviz2 gets a config whose displays name the node's resolved output
  topics, for any namespace and every camera (:func:`rviz_config`).

No rclpy here; ``yaml`` reads the argument values as ``ros2 launch`` users
write them (``cameras:=[front,rear]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lednet_ros.errors import LednetError
from lednet_ros.ros.parameters import PARAMETERS, NodeParameter, ParameterValue
from lednet_ros.ros.topics import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    IMAGE_OUTPUTS,
    POINTS,
    in_namespace,
    output_topic,
)
from lednet_ros.ros.transport import LARGE_IMAGES_PROFILE
from lednet_ros.user_files import load_yaml

__all__ = [
    "LARGE_IMAGES_PROFILE",
    "NOT_GIVEN",
    "PRESETS_FOLDER",
    "argument_description",
    "cameras_from_image_topics",
    "file_value",
    "output_topics",
    "parameter_files",
    "parameter_overrides",
    "preset_names",
    "rviz_config",
]

NOT_GIVEN = "<not given>"
"""The launch default of every parameter argument: not given, the files or the node's default decide.

Nobody types it (``<`` and ``>`` are in no topic, file or enum value), so ``weights:=''`` or
``depth_topic:=''`` typed on the command line is an override that clears what a preset or params file set."""
PRESETS_FOLDER = "config/presets"
"""Inside the package's share directory: one ``<name>.yaml`` parameters file per computer class."""


def argument_description(parameter: NodeParameter) -> str:
    """A parameter argument's ``--show-args`` text: the table's description and what an unset one means."""
    default = str(parameter.default).lower() if isinstance(parameter.default, bool) else parameter.default
    return f"{parameter.description}. Not given: preset/params_file, else {default!r}"


def _parse(parameter: NodeParameter, text: str) -> ParameterValue:
    """``text`` (as typed after ``name:=``) as the type of the parameter's default."""
    default = parameter.default
    if isinstance(default, str):
        return text
    value = yaml.safe_load(text)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    else:  # a list of strings; one bare item is a list of one
        items = value if isinstance(value, list) else [text]
        return [str(item) if item is not None else "" for item in items]
    kind = type(default).__name__
    msg = f"launch argument {parameter.name}:={text!r} is not a {kind} (e.g. {parameter.name}:={default!r})"
    raise LednetError(msg)


def parameter_overrides(given: Mapping[str, str]) -> dict[str, ParameterValue]:
    """The parameters given on the command line (``given``: every launch configuration), typed.

    Raises:
        LednetError: a value that is not of its parameter's type.
    """
    return {p.name: _parse(p, given[p.name]) for p in PARAMETERS if given.get(p.name, NOT_GIVEN) != NOT_GIVEN}


def preset_names(share: Path) -> list[str]:
    """The presets the package has (``config/presets/*.yaml``)."""
    return sorted(path.stem for path in (share / PRESETS_FOLDER).glob("*.yaml"))


def parameter_files(share: Path, preset: str, params_file: str) -> list[Path]:
    """The parameter files in the order the node applies them: the preset's, then the user's.

    Raises:
        LednetError: an unknown preset or a missing params_file.
    """
    files = []
    if preset:
        path = share / PRESETS_FOLDER / f"{preset}.yaml"
        if not path.is_file():
            msg = f"unknown preset {preset!r}: one of {', '.join(preset_names(share))}"
            raise LednetError(msg)
        files.append(path)
    if params_file:
        path = Path(params_file).expanduser()
        if not path.is_file():
            msg = f"params_file {params_file!r} does not exist"
            raise LednetError(msg)
        files.append(path)
    return files


def file_value(files: Sequence[Path], name: str) -> Any:
    """The value the last of ``files`` that sets parameter ``name`` gives it (any node key), else None."""
    value = None
    for path in files:
        data = load_yaml(path, "parameters file") or {}
        if not isinstance(data, dict):
            msg = f"{path}: a parameters file maps node names to ros__parameters, got {type(data).__name__}"
            raise LednetError(msg)
        for section in data.values():
            parameters = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
            if name in parameters:
                value = parameters[name]
    return value


def cameras_from_image_topics(topics: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """One camera per image topic: (the ``cameras`` namespaces, the remaps).

    A camera's namespace is its image topic's parent (``/front/image_raw`` ->
    ``/front``), so its outputs are ``/front/segmentation/*`` and its
    ``camera_info`` is the sibling ``/front/camera_info`` (REP 135 puts it
    next to the image).

    Raises:
        LednetError: a relative topic, or two topics in one namespace.
    """
    namespaces, remaps = [], []
    for topic in topics:
        parent, _, leaf = topic.rstrip("/").rpartition("/")
        if not topic.startswith("/") or not leaf:
            msg = f"image_topics: {topic!r} is not an absolute topic name (e.g. /front/image_raw)"
            raise LednetError(msg)
        namespace = parent or "/"
        if namespace in namespaces:
            msg = f"image_topics: two cameras in namespace {namespace!r}; each camera needs its own"
            raise LednetError(msg)
        namespaces.append(namespace)
        remaps += [
            (in_namespace(namespace, IMAGE), topic),
            (in_namespace(namespace, COMPRESSED_IMAGE), f"{topic}/compressed"),
        ]
    return namespaces, remaps


def _absolute(node_namespace: str, name: str) -> str:
    if name.startswith("/"):
        return name
    return "/".join(["", *[part for part in node_namespace.split("/") if part], name])


def output_topics(node_namespace: str, cameras: Sequence[str]) -> list[dict[str, str]]:
    """Per camera, its outputs' resolved topic names (``labels``, ..., ``points``) under ``node_namespace``."""
    names = (*IMAGE_OUTPUTS, CAMERA_INFO, POINTS)
    return [{name: _absolute(node_namespace, in_namespace(c, output_topic(name))) for name in names} for c in cameras]


def rviz_config(template: str, node_namespace: str, cameras: Sequence[str]) -> str:
    """The rviz2 config ``template`` with its displays repeated per camera and pointed at its topics.

    ``node_namespace`` is the node's resolved namespace (with any ``PushRosNamespace`` applied).

    The template's displays name topics ``/segmentation/<output>``; each copy
    names the node's resolved topic of that output instead.
    """
    config = yaml.safe_load(template)
    manager = config["Visualization Manager"]
    displays = []
    for index, (camera, topics) in enumerate(zip(cameras, output_topics(node_namespace, cameras), strict=True)):
        for display in manager["Displays"]:
            copy = yaml.safe_load(yaml.safe_dump(display))
            output = copy["Topic"]["Value"].rpartition("/")[2]
            if output == POINTS and index > 0:
                continue  # only the first camera has the depth input, so only it has a cloud
            copy["Topic"]["Value"] = topics[output]
            if len(cameras) > 1 or camera.strip("/"):
                copy["Name"] = f"{copy['Name']} ({camera.strip('/') or 'node namespace'})"
            displays.append(copy)
    manager["Displays"] = displays
    return yaml.safe_dump(config, sort_keys=False)
