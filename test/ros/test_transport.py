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
