"""When the large-image Fast DDS profile is applied: by default, never over the user's own choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from lednet_ros.ros.transport import (
    PROFILE_VARIABLES,
    apply_large_image_profile,
    large_image_environment,
    large_image_profile,
)

PROFILE = Path("/share/lednet_ros/config/fastdds_large_images.xml")


def test_the_profile_is_shipped_and_gives_large_shared_memory_segments() -> None:
    text = large_image_profile().read_text()
    assert "<type>SHM</type>" in text and "<segment_size>67108864</segment_size>" in text


@pytest.mark.parametrize("rmw", ["", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp"])
def test_fast_dds_gets_the_profile_under_both_variable_names(rmw: str) -> None:
    environ = {"RMW_IMPLEMENTATION": rmw} if rmw else {}
    assert large_image_environment(environ, PROFILE) == dict.fromkeys(PROFILE_VARIABLES, str(PROFILE))


@pytest.mark.parametrize(
    "environ",
    [
        {"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"},
        {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"},
        {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
        {"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"},
    ],
)
def test_the_users_own_profile_or_another_rmw_wins(environ: dict[str, str]) -> None:
    assert large_image_environment(environ, PROFILE) == {}


def test_apply_changes_only_what_it_reports() -> None:
    environ = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp", "OTHER": "x"}
    assert apply_large_image_profile(environ) == {}
    assert environ == {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp", "OTHER": "x"}
    fresh: dict[str, str] = {}
    added = apply_large_image_profile(fresh)
    assert fresh == added and set(added) == set(PROFILE_VARIABLES)
    assert Path(added["FASTRTPS_DEFAULT_PROFILES_FILE"]).is_file()


def test_segments_of_a_killed_participant_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    """What the suite's session fixture relies on (test/shm_segments.py), with the real Fast DDS."""
    import signal
    import subprocess
    import sys
    import time

    from shm_segments import SHM, remove_zombie_fastdds_segments

    script = (
        "import rclpy, time; rclpy.init(); n = rclpy.create_node('shm_probe'); print('up', flush=True); time.sleep(60)"
    )
    before = set(SHM.glob("fastrtps_*"))
    killed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    live = None
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "up"
        mine = set(SHM.glob("fastrtps_*")) - before
        assert any(p.name.endswith("_el") for p in mine), mine
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert all(p.exists() for p in mine)  # Fast DDS leaves them behind
        live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert live.stdout is not None and live.stdout.readline().strip() == "up"
        theirs = set(SHM.glob("fastrtps_*")) - before - mine
        time.sleep(0.2)
        remove_zombie_fastdds_segments()
        segments = {p for p in mine if not p.name.startswith("fastrtps_port")}  # port files are shared by all
        assert segments and not any(p.exists() for p in segments)
        assert all(p.exists() for p in theirs if p.name.endswith("_el"))
    finally:
        for process in (killed, live):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
        remove_zombie_fastdds_segments()
