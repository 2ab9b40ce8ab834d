"""Start lednet_ros' segmentation node (and optionally rviz2).

    ros2 launch lednet_ros segmentation.launch.py image_topic:=/camera/image_raw device:=cuda
    ros2 launch lednet_ros segmentation.launch.py preset:=jetson_orin params_file:=my.yaml overlay_alpha:=0.3
    ros2 launch lednet_ros segmentation.launch.py image_topics:=[/front/image_raw,/rear/image_raw] rviz:=true
    ros2 launch lednet_ros segmentation.launch.py namespace:=front managed:=true

Every node parameter is also a launch argument of the same name (``ros2
launch lednet_ros segmentation.launch.py --show-args``). The node's
parameters are layered: the ``preset`` (``config/presets/<name>.yaml``), then
``params_file``, then the parameter arguments given on the command line;
an argument not given sets nothing, so the files decide, else the node's
default. The rules are in :mod:`lednet_ros.ros.launch_arguments`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_prefix, get_package_share_directory
from launch import Action, LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnShutdown
from launch_ros.actions import Node
from launch_ros.utilities import make_namespace_absolute, prefix_namespace

from lednet_ros.errors import LednetError
from lednet_ros.ros import launch_arguments as rules
from lednet_ros.ros.parameters import PARAMETERS
from lednet_ros.ros.topics import NODE_NAME
from lednet_ros.ros.transport import large_image_environment, large_image_profile, profile_environment

# launch argument -> (default, description); those that are not node parameters
LAUNCH_ARGUMENTS = {
    "namespace": ("", "namespace of the node and its outputs"),
    "preset": ("", "computer class: parameters from config/presets/<preset>.yaml (jetson_orin, desktop_gpu, cpu)"),
    "params_file": ("", "parameters YAML for the node, applied after the preset"),
    "image_topic": ("/camera/image_raw", "camera image topic (one camera in the node's namespace)"),
    "camera_info_topic": ("/camera/camera_info", "camera_info topic of that camera"),
    "image_topics": ("", "several cameras, one per image topic, e.g. [/front/image_raw,/rear/image_raw]"),
    "managed": ("false", "true: the lifecycle node segmentation_lifecycle_node (configure/activate it)"),
    "large_images": (
        "auto",
        "the node's Fast DDS profile config/fastdds_large_images.xml (64 MB shared memory): "
        "auto = unless FASTRTPS_/FASTDDS_DEFAULT_PROFILES_FILE is set or another RMW runs; true; false",
    ),
    "rviz": ("false", "also start rviz2, showing this node's outputs"),
}


def _truth(text: str, name: str) -> bool:
    if text.lower() not in ("true", "false"):
        msg = f"launch argument {name}:={text!r} is not true or false"
        raise LednetError(msg)
    return text.lower() == "true"


def _node_namespace(context: LaunchContext, namespace: str) -> str:
    """The node's namespace as launch_ros resolves it: ``namespace`` under any ``PushRosNamespace`` around us."""
    pushed = context.launch_configurations.get("ros_namespace")
    return make_namespace_absolute(prefix_namespace(pushed, namespace)) or "/"


def _rviz_config(share: Path, node_namespace: str, cameras: list[str]) -> Path:
    """A temporary .rviz file whose displays name this node's resolved output topics."""
    template = (share / "config" / "segmentation.rviz").read_text(encoding="utf-8")
    with tempfile.NamedTemporaryFile("w", prefix="lednet_ros_", suffix=".rviz", delete=False) as handle:
        handle.write(rules.rviz_config(template, node_namespace, cameras))
    return Path(handle.name)


def _rviz(share: Path, node_namespace: str, cameras: list[str]) -> list[Action]:
    """rviz2 with a config of this node's topics (removed at shutdown); a missing rviz2 raises before anything starts."""
    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        msg = "rviz:=true, but rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2); nothing was started"
        raise LednetError(msg) from None
    config = _rviz_config(share, node_namespace, cameras)
    return [
        Node(package="rviz2", executable="rviz2", arguments=["-d", str(config)], output="screen"),
        RegisterEventHandler(OnShutdown(on_shutdown=lambda *_: config.unlink(missing_ok=True))),
    ]


def _large_images_env(share: Path, choice: str) -> dict[str, str] | None:
    """The node's extra environment for the ``large_images`` argument (see lednet_ros.ros.transport)."""
    if choice.lower() == "auto":
        return large_image_environment(os.environ, large_image_profile(share)) or None
    if _truth(choice, "large_images"):
        return profile_environment(large_image_profile(share))
    return None


def _actions(context: LaunchContext) -> list[Action]:
    """The node (and rviz2) from the arguments' values; every check happens before anything starts."""
    given = dict(context.launch_configurations)
    share = Path(get_package_share_directory("lednet_ros"))
    files = rules.parameter_files(share, given["preset"], given["params_file"])
    overrides = rules.parameter_overrides(given)
    remaps = [("image", given["image_topic"]), ("image/compressed", given["image_topic"] + "/compressed"),
              ("camera_info", given["camera_info_topic"])]  # fmt: skip
    if given["image_topics"]:
        if "cameras" in overrides:
            msg = "give cameras (namespaces) or image_topics, not both"
            raise LednetError(msg)
        topics = rules.parameter_overrides({"cameras": given["image_topics"]})["cameras"]
        overrides["cameras"], remaps = rules.cameras_from_image_topics(topics)  # type: ignore[arg-type]
    cameras = overrides.get("cameras") or rules.file_value(files, "cameras") or [""]
    namespace = given["namespace"]
    actions: list[Action] = [Node(
        package="lednet_ros",
        executable="segmentation_lifecycle_node" if _truth(given["managed"], "managed") else "segmentation_node",
        name=NODE_NAME,
        namespace=namespace,
        parameters=[*map(str, files), overrides],
        remappings=remaps,
        additional_env=_large_images_env(share, given["large_images"]),
        output="screen",
        emulate_tty=True,
    )]  # fmt: skip
    if _truth(given["rviz"], "rviz"):
        actions += _rviz(share, _node_namespace(context, namespace), list(cameras))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments (every node parameter among them) and the node and rviz2 they make."""
    arguments = [DeclareLaunchArgument(n, default_value=d, description=t) for n, (d, t) in LAUNCH_ARGUMENTS.items()]
    arguments += [
        DeclareLaunchArgument(p.name, default_value=rules.NOT_GIVEN, description=rules.argument_description(p))
        for p in PARAMETERS
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_actions)])
