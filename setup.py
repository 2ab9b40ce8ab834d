"""ament_python package definition of lednet_ros.

``colcon build`` uses it on a ROS 2 install (dependencies come from
package.xml via rosdep, plus ``pip install torch``). The ``venv`` and ``test``
extras pin the PyPI stack of the repository's ``.venv`` (ROS 2 Jazzy runtime
wheels, CPU torch); they are never needed on a robot.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "lednet_ros"

VENV_REQUIREMENTS = [
    "ros-jazzy-rclpy[fastrtps]==7.1.6",
    "ros-jazzy-sensor-msgs==5.3.6",
    "ros-jazzy-std-msgs==5.3.6",
    "ros-jazzy-diagnostic-msgs==5.3.6",
    "torch==2.13.0",
    "numpy==2.4.6",
    "opencv-python-headless==5.0.0.93",
    "PyYAML==6.0.3",
    "tqdm==4.70.1",
    "rosbags==0.11.9",
    "matplotlib==3.11.2",
    # colcon build --symlink-install runs `setup.py develop --editable`, which setuptools 80 removed
    # (colcon/colcon-core#696); Jazzy's Ubuntu 24.04 has 68.1.2. 79.0.1 is the newest that has it.
    "setuptools==79.0.1",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    # bf16 on CPUs that have it natively (Zen 4, Sapphire Rapids): about half ONNX Runtime's fp32 time
    "openvino==2026.4.1",
]
FLEET_REQUIREMENTS = [
    # `lednet-ros evaluate/label` on many bags with --workers/--address: lednet_ros/fleet (pip install .[fleet])
    "ray==2.60.0",
]
TEST_REQUIREMENTS = [
    *FLEET_REQUIREMENTS,  # CI tests the Ray path for real
    "pytest==9.2.0",
    "ruff==0.17.6",
    "rosbags-image==0.10.4",
    "colcon-common-extensions==0.3.0",
    "hypothesis==6.170.15",
    "pointcloud2==0.6.0",
    "psutil==7.2.2",  # ros2cli (ros2 launch/param/lifecycle of ../shared/ros2_tooling in the tests) needs it
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.*"))),
        (f"share/{PACKAGE}/config/presets", sorted(glob("config/presets/*.yaml"))),
        (f"share/{PACKAGE}/weights", sorted(glob("weights/*"))),
    ],
    install_requires=["setuptools"],
    extras_require={"venv": VENV_REQUIREMENTS, "test": TEST_REQUIREMENTS, "fleet": FLEET_REQUIREMENTS},
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="lednet_ros developers",
    maintainer_email="lednet-ros@users.noreply.github.com",
    description="LEDNet real-time semantic segmentation node for ROS 2 cameras",
    license="MIT",
    entry_points={
        "console_scripts": [
            "lednet-ros = lednet_ros.commands.main:main",
            "segmentation_node = lednet_ros.ros.executables:segmentation_node",
            "segmentation_lifecycle_node = lednet_ros.ros.executables:segmentation_lifecycle_node",
        ],
    },
)
