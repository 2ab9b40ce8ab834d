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
        "rcl_interfaces",  # the node and its parameter table import it
        "lifecycle_msgs",  # rclpy.lifecycle, for segmentation_lifecycle_node
        "vision_msgs",  # segmentation/label_info
        "python3-matplotlib",
        "python3-pil",
        "python3-rosbags-pip",
        "python3-onnxruntime-pip",
    } <= depends
    assert root.find("export/build_type").text == "ament_python"  # type: ignore[union-attr]


def test_package_xml_and_setup_py_agree_on_the_version() -> None:
    from lednet_ros import __version__

    root = ET.parse(REPO / "package.xml").getroot()
    assert root.findtext("version") == __version__
    assert f'version="{__version__}"' in (REPO / "setup.py").read_text()


@pytest.fixture(scope="module")
def colcon_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the repository's files in src/lednet_ros (what a clone has, not build products)."""
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.fail("colcon is not installed in this environment (it is a test dependency: setup.py extras 'test')")
    workspace = tmp_path_factory.mktemp("ws")
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=False)  # fmt: skip
    files = tracked.stdout.split() if tracked.returncode == 0 and tracked.stdout else None
    destination = workspace / "src" / "lednet_ros"
    if files:  # copy what a clone would have, not local build products or the .venv
        for name in files:
            if not (REPO / name).is_file():  # listed by git, deleted in the working tree
                continue
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    else:
        shutil.copytree(
            REPO, destination, ignore=shutil.ignore_patterns(".venv", ".git", "out", "build", "install", "log")
        )
    return workspace


def _colcon_build(workspace: Path, *options: str) -> Path:
    colcon = Path(sys.executable).with_name("colcon")
    result = subprocess.run(
        [str(colcon), "build", "--base-paths", "src", *options],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install" / "lednet_ros"


@pytest.fixture(scope="module")
def colcon_install(colcon_workspace: Path) -> Path:
    return _colcon_build(colcon_workspace)


def test_colcon_build_installs_launch_config_and_weights(colcon_install: Path) -> None:
    share = colcon_install / "share" / "lednet_ros"
    for folder in ["launch", "config", "config/presets", "weights"]:
        source = sorted(p.name for p in (REPO / folder).iterdir() if p.is_file())
        installed = sorted(p.name for p in (share / folder).iterdir() if p.is_file())
        assert source and installed == source, folder
    assert (share / "package.xml").is_file()
    assert (colcon_install / "share" / "ament_index" / "resource_index" / "packages" / "lednet_ros").is_file()
    for executable in ("lednet-ros", "segmentation_node", "segmentation_lifecycle_node"):  # where `ros2 run` looks
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


def test_colcon_symlink_install_links_the_sources(colcon_workspace: Path, tmp_path: Path) -> None:
    """``colcon build --symlink-install``, the usual development workflow: edits need no rebuild.

    setuptools 80 removed ``setup.py develop --editable``, which colcon-core
    runs for it (colcon/colcon-core#696): the .venv pins setuptools 79.0.1.
    """
    workspace = tmp_path / "ws"
    shutil.copytree(colcon_workspace / "src", workspace / "src", symlinks=True)
    install = _colcon_build(workspace, "--symlink-install")
    source = workspace / "src" / "lednet_ros"
    launch = install / "share" / "lednet_ros" / "launch" / "segmentation.launch.py"
    assert launch.is_symlink() and launch.resolve() == (source / "launch" / "segmentation.launch.py").resolve()
    for executable in ("segmentation_node", "segmentation_lifecycle_node"):
        assert (install / "lib" / "lednet_ros" / executable).is_file(), executable
    env = {**os.environ, "PYTHONPATH": str(workspace / "build" / "lednet_ros")}
    code = "import lednet_ros.ros.topics as t; print(t.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == (source / "lednet_ros" / "ros" / "topics.py").resolve()
