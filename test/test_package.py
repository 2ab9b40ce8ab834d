"""The ament_python package: layout, manifest, and a real ``colcon build``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRED_TOP_LEVEL = ["lednet_ros", "launch", "config", "weights", "test", "package.xml", "setup.py", "setup.cfg",
                      "resource/lednet_ros", "README.md", ".ci/run"]  # fmt: skip


def test_top_level_layout() -> None:
    missing = [name for name in REQUIRED_TOP_LEVEL if not (REPO / name).exists()]
    assert not missing


def test_package_xml_is_format_3_with_the_runtime_dependencies() -> None:
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "lednet_ros"
    depends = {e.text for e in root if e.tag in {"depend", "exec_depend"}}
    assert {
        "rclpy",
        "sensor_msgs",
        "std_msgs",
        "diagnostic_msgs",
        "python3-numpy",
        "python3-opencv",
        "python3-yaml",
    } <= depends
    assert root.find("export/build_type").text == "ament_python"  # type: ignore[union-attr]


def test_package_xml_and_setup_py_agree_on_the_version() -> None:
    from lednet_ros import __version__

    root = ET.parse(REPO / "package.xml").getroot()
    assert root.findtext("version") == __version__
    assert f'version="{__version__}"' in (REPO / "setup.py").read_text()


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.fail("colcon is not installed in this environment (it is a test dependency: setup.py extras 'test')")
    workspace = tmp_path_factory.mktemp("ws")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    files = tracked.stdout.split() if tracked.returncode == 0 and tracked.stdout else None
    destination = workspace / "src" / "lednet_ros"
    if files:  # copy what a clone would have, not local build products or the .venv
        for name in files:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    else:
        shutil.copytree(
            REPO, destination, ignore=shutil.ignore_patterns(".venv", ".git", "out", "build", "install", "log")
        )
    result = subprocess.run(
        [str(colcon), "build", "--base-paths", "src"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install" / "lednet_ros"


def test_colcon_build_installs_launch_config_and_weights(colcon_install: Path) -> None:
    share = colcon_install / "share" / "lednet_ros"
    for folder in ["launch", "config", "weights"]:
        source = sorted(p.name for p in (REPO / folder).iterdir() if p.is_file())
        installed = sorted(p.name for p in (share / folder).iterdir())
        assert source and installed == source, folder
    assert (share / "package.xml").is_file()
    assert (colcon_install / "share" / "ament_index" / "resource_index" / "packages" / "lednet_ros").is_file()
    for executable in ("lednet-ros", "segmentation_node"):  # where `ros2 run lednet_ros ...` looks
        assert (colcon_install / "lib" / "lednet_ros" / executable).is_file(), executable


def test_installed_package_finds_its_share_directory_through_the_ament_index(
    colcon_install: Path, tmp_path: Path
) -> None:
    site = next((colcon_install / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(colcon_install)}
    code = (
        "import lednet_ros.resources as r, lednet_ros.model.classes as c;"
        "print(r.__file__); print(r.share_directory()); print(c.load_class_config().num_classes)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    module_file, share, classes = result.stdout.split()
    assert module_file.startswith(str(site))
    assert Path(share) == colcon_install / "share" / "lednet_ros"
    assert classes == "19"
