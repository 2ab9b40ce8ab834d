"""A real two-node Ray cluster, on loopback inside a network namespace this test creates.

``ray start`` advertises the machine's interface address even when told
127.0.0.1; inside a fresh namespace whose only interface is ``lo`` both
nodes register as 127.0.0.1 and nothing can leave. Head and second node get
one CPU each, every process runs with ``RAY_AUTH_MODE=disabled``, and the
command joins with ``--address``. The node ids in the per-unit results
show that work ran on both nodes; then the second node (its raylet and
workers) is killed while it runs a unit, and the head finishes the job. Needs root (``ip netns``); skipped where
the namespace cannot be made, and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fleet_bags import REPO, build_fleet, expected_report, fleet_args

pytestmark = pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip to make a network namespace")

RAY = str(Path(sys.executable).with_name("ray"))


def _kill_cluster(marker: str) -> None:
    """End the processes of this test's cluster (found by their RAY_TMPDIR), never anyone else's."""
    mine = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("RAY_TMPDIR") == marker:
                mine.append(process)
        except psutil.Error:
            continue
    for process in mine:
        process.terminate()
    _, alive = psutil.wait_procs(mine, timeout=2)
    for process in alive:
        process.kill()


@pytest.fixture
def namespace() -> Iterator[tuple[str, dict[str, str]]]:
    name = f"lednet_fleet_{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace (needs root): {made.stderr.strip()}")
    folder = tempfile.mkdtemp(prefix="lrn", dir="/tmp")
    env = {
        **os.environ,
        "RAY_TMPDIR": folder,
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_failure_threshold": "3",
    }  # a lost node: seen in 2 s
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name, env
    finally:
        _kill_cluster(folder)
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _node_processes(marker: str) -> list[psutil.Process]:
    """The processes ``ray start`` left for a node (its raylet and helpers), found by an environment marker."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("LEDNET_FLEET_NODE") == marker:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _running_a_unit(node: list[psutil.Process]) -> list[psutil.Process]:
    """The node's processes and their children, if one of them runs a unit now (else none)."""
    everything = list(node)
    for process in node:
        try:
            everything += process.children(recursive=True)
        except psutil.Error:
            continue
    for process in everything:
        try:
            if " ".join(process.cmdline()).startswith("ray::UnitWorker.run"):
                return everything
        except psutil.Error:
            continue
    return []


def _node_ids(log: Path) -> set[str]:
    if not log.exists():
        return set()
    lines = [line for line in log.read_text().splitlines() if line.endswith("}")]
    return {json.loads(line)["result"].get("node_id") for line in lines} - {None}


def test_two_nodes_on_loopback_share_the_work_and_survive_losing_one(
    namespace: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory, checkpoint: object,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Both nodes run units; in a second run the second node is lost mid-unit and the head finishes the job."""
    name, env = namespace
    fleet = build_fleet(tmp_path_factory.getbasetemp(), checkpoint)
    expected = expected_report(fleet)
    inside = ["ip", "netns", "exec", name]
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    head = [RAY, "start", "--head", "--port", "6379", "--include-dashboard", "false", *common]
    second = {**env, "LEDNET_FLEET_NODE": name}
    for command, environment in ((head, env), ([RAY, "start", "--address", "127.0.0.1:6379", *common], second)):
        started = subprocess.run([*inside, *command], env=environment, capture_output=True, text=True, timeout=120,
                                 check=False)  # fmt: skip
        assert started.returncode == 0, started.stderr[-2000:]
    command = [*inside, sys.executable, "-m", "lednet_ros", "evaluate",
               *fleet_args(fleet, tmp_path, "--address", "127.0.0.1:6379", "--slice-frames", "3")]  # fmt: skip
    both = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert both.returncode == 3, both.stderr[-2000:]  # the fleet's broken bags
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["confusion"] == expected["confusion"]  # long's slices split between equal stamps
    assert len(report["nodes"]) == 2 and len(_node_ids(tmp_path / "units.jsonl")) == 2

    lost: list[psutil.Process] = []  # again, and the second node is lost as soon as it runs a unit
    node = _node_processes(name)
    with subprocess.Popen([*command, "--force"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True) as p:  # fmt: skip
        deadline = time.monotonic() + 240
        while not lost and p.poll() is None and time.monotonic() < deadline:
            lost = _running_a_unit(node)
            for process in lost:  # the whole node: its raylet and its workers
                process.kill()
            time.sleep(0.002)
        _, stderr = p.communicate(timeout=240)
    assert lost, "the second node was never seen running a unit"
    assert p.returncode == 3, stderr[-2000:]
    assert json.loads((tmp_path / "report.json").read_text())["confusion"] == expected["confusion"]
