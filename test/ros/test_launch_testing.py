"""segmentation.launch.py under launch_testing, with the real ``launch_test`` command.

``segmentation_launch_testing.py`` holds the launch_testing description;
this runs it as ``launch_test FILE`` on the package built with colcon (a
ROS 2 install's launch_testing, else ``../shared/ros2_tooling``'s), and
checks that nothing of it is left running.
"""

from __future__ import annotations

from pathlib import Path

from ros2_tooling import Ros2, ros2_fixture  # noqa: F401 (the ros2 fixture)

DESCRIPTION = Path(__file__).with_name("segmentation_launch_testing.py")


def test_launch_test_runs_the_launch_file_and_its_checks(ros2: Ros2) -> None:
    result = ros2.run_tool("launch_test", str(DESCRIPTION), timeout=240)
    assert result.returncode == 0, result.stdout
    assert "test_it_segments_a_frame" in result.stdout and "test_every_process_exited_cleanly" in result.stdout
    assert "FAILED" not in result.stdout and "Traceback" not in result.stdout, result.stdout
