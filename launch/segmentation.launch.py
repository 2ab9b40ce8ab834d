"""Start lednet_ros' segmentation node (and optionally rviz2).

    ros2 launch lednet_ros segmentation.launch.py image_topic:=/camera/image_raw device:=cuda
    ros2 launch lednet_ros segmentation.launch.py namespace:=front rviz:=true

Every argument maps to a node parameter or a topic remapping; parameters not
given here come from ``params_file`` (default: the package's
``config/segmentation.yaml``), and arguments given here override it.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

# launch argument -> (default, type, description); each is a node parameter of the same name.
# Their values, defaults included, take precedence over params_file.
PARAMETER_ARGUMENTS = {
    "device": ("auto", str, "auto, cpu, cuda or cuda:N"),
    "precision": ("auto", str, "auto (fp16 on CUDA, fp32 on CPU), fp32 or fp16"),
    "backend": ("auto", str, "auto, torch, onnxruntime or openvino (where the network runs)"),
    "model_width": ("0", int, "network input width; 0: the weights' training size"),
    "model_height": ("0", int, "network input height; 0: the weights' training size"),
    "weights": ("", str, "weights file; empty: the packaged weights"),
    "cuda_graphs": ("true", bool, "CUDA: replay the pipeline as a captured CUDA graph per image size"),
    "depth_topic": ("", str, "aligned depth image topic (16UC1 mm or 32FC1 m); set: publish segmentation/points"),
    "input_transport": ("raw", str, "raw (image) or compressed (image/compressed)"),
    "overlay_alpha": ("0.5", float, "palette weight in the overlay"),
}
# launch argument -> (default, description, the node's topic it remaps)
REMAP_ARGUMENTS = {
    "image_topic": ("/camera/image_raw", "camera image topic", "image"),
    "camera_info_topic": ("/camera/camera_info", "camera_info topic of that camera", "camera_info"),
}


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the node and the optional rviz2."""
    share = FindPackageShare("lednet_ros")
    arguments = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "segmentation.yaml"]),
            description="parameters YAML for the node",
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="also start rviz2 with config/segmentation.rviz"
        ),
    ]
    arguments += [
        DeclareLaunchArgument(n, default_value=d, description=t) for n, (d, _, t) in PARAMETER_ARGUMENTS.items()
    ]
    arguments += [DeclareLaunchArgument(n, default_value=d, description=t) for n, (d, t, _) in REMAP_ARGUMENTS.items()]
    image = LaunchConfiguration("image_topic")
    remappings = [
        ("image", image),
        ("image/compressed", [image, "/compressed"]),
        ("camera_info", LaunchConfiguration("camera_info_topic")),
    ]
    node = Node(
        package="lednet_ros",
        executable="segmentation_node",
        name="lednet_segmentation",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {n: ParameterValue(LaunchConfiguration(n), value_type=t) for n, (_, t, _) in PARAMETER_ARGUMENTS.items()},
        ],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "segmentation.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return LaunchDescription([*arguments, node, rviz])
