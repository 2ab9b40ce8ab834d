"""A real two-node Ray cluster, on loopback inside a network namespace this test creates.

``ray start`` advertises the machine's interface address even when told
127.0.0.1; inside a fresh namespace whose only interface is ``lo`` both
nodes register as 127.0.0.1 and nothing can leave. Head and second node get
one CPU each, every process runs with ``RAY_AUTH_MODE=disabled``, and the
command joins with ``--address``. The node ids in the per-unit results
show that work ran on both nodes. Needs root (``ip netns``); skipped where
the namespace cannot be made, and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
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
    env = {**os.environ, "RAY_TMPDIR": folder, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name, env
    finally:
        _kill_cluster(folder)
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_nodes_on_loopback_share_the_work_and_give_the_in_process_matrix(
    namespace: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory, checkpoint: object,
    tmp_path: Path,
) -> None:  # fmt: skip
    name, env = namespace
    fleet = build_fleet(tmp_path_factory.getbasetemp(), checkpoint)
    expected = expected_report(fleet)
    inside = ["ip", "netns", "exec", name]
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    head = [RAY, "start", "--head", "--port", "6379", "--include-dashboard", "false", *common]
    for command in (head, [RAY, "start", "--address", "127.0.0.1:6379", *common]):
        started = subprocess.run([*inside, *command], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert started.returncode == 0, started.stderr[-2000:]
    out = tmp_path / "out"
    done = subprocess.run(
        [*inside, sys.executable, "-m", "lednet_ros", "evaluate",
         *fleet_args(fleet, out, "--address", "127.0.0.1:6379", "--slice-frames", "8")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]  # the fleet's broken bags
    report = json.loads((out / "report.json").read_text())
    assert report["confusion"] == expected["confusion"]  # long's slices split between equal stamps
    results = [json.loads(line)["result"] for line in (out / "units.jsonl").read_text().splitlines()]
    assert len({r["node_id"] for r in results if r.get("node_id")}) == 2
