r"""Start lednet_ros' segmentation node for Nav2's semantic segmentation layer.

    ros2 launch lednet_ros segmentation_nav2.launch.py namespace:=camera \
        image_topic:=/camera/color/image_raw camera_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw

``segmentation.launch.py`` with what the layer needs on: the organised cloud
(``cloud_layout:=organized``), and with it ``segmentation/cloud_labels``,
``segmentation/cloud_confidence`` and ``segmentation/label_info``. Every
argument of ``segmentation.launch.py`` works here too and wins over these
defaults. ``depth_topic`` is required: without a cloud the layer has nothing
to place the classes with. ``config/nav2_semantic_layer.yaml`` is the
costmap side (its topics are those of ``namespace:=camera``).
"""

from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import Action, LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource

from lednet_ros.errors import LednetError

NAV2_DEFAULTS = {"cloud_layout": ("organized", "packed or organized; the layer needs organized (point i = pixel i)")}
"""Node parameters this launch file sets unless given: (value, description)."""


def _require_depth(context: LaunchContext) -> list[Action]:
    """Stop before anything starts when depth_topic is not given."""
    if not context.launch_configurations.get("depth_topic"):
        msg = (
            "segmentation_nav2.launch.py needs depth_topic:=<aligned depth image topic> (the layer places the "
            "classes with the cloud); nothing was started"
        )
        raise LednetError(msg)
    return []


def generate_launch_description() -> LaunchDescription:
    """The Nav2 defaults as arguments, the depth check, then segmentation.launch.py, which sees them as given."""
    arguments = [DeclareLaunchArgument(n, default_value=v, description=t) for n, (v, t) in NAV2_DEFAULTS.items()]
    share = Path(get_package_share_directory("lednet_ros"))
    segmentation = PythonLaunchDescriptionSource(str(share / "launch" / "segmentation.launch.py"))
    return LaunchDescription([*arguments, OpaqueFunction(function=_require_depth),
                              IncludeLaunchDescription(segmentation)])  # fmt: skip
