"""The Ray path for real: a local cluster on loopback, started and stopped by the command.

Equal numbers to the in-process path, a worker killed mid-unit, Ctrl-C, and
Ray missing. Each run is a ``lednet-ros evaluate`` process of its own, with
``RAY_TMPDIR`` set to a fresh folder so that any process it leaves behind is
found by that folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fleet_bags import FLEET_FRAMES, REPO, build_fleet, cli, evaluate_in_process, expected_report, fleet_args

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is the optional extra 'fleet' (the test extras install it)"
)


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A short RAY_TMPDIR (Ray's socket paths must stay under 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="lr", dir="/tmp") as folder:
        yield Path(folder)


def ray_processes(folder: Path) -> list[str]:
    """Processes of the cluster whose RAY_TMPDIR is ``folder``: none must outlive the command."""
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + " " + process.environ().get("RAY_TMPDIR", "")
        except (psutil.Error, OSError):
            continue
        if str(folder) in text:
            left.append(f"{process.pid}: {text[:120]}")
    return left


def running_worker(folder: Path) -> psutil.Process | None:
    """The actor process of the cluster whose RAY_TMPDIR is ``folder``, once it runs a unit."""
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if " ".join(process.info["cmdline"] or []).startswith("ray::UnitWorker.run") and str(folder) in (
                process.environ().get("RAY_TMPDIR", "")
            ):
                return process
        except (psutil.Error, OSError):
            continue
    return None


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory, checkpoint: object) -> Path:
    return build_fleet(tmp_path_factory.getbasetemp(), checkpoint)


@pytest.fixture
def expected(fleet: Path) -> dict:
    return expected_report(fleet)


def test_two_workers_on_two_cpus_one_killed_mid_unit_give_the_in_process_matrix(
    fleet: Path, expected: dict, tmp_path: Path, ray_tmp: Path
) -> None:
    """The defaults finish on this 2-CPU machine; the killed actor restarts and its unit is retried."""
    command = [sys.executable, "-m", "lednet_ros", "evaluate", *fleet_args(fleet, tmp_path / "ray", "--workers", "2")]
    env = {**psutil.Process().environ(), "RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled"}
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as p:
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and p.poll() is None and time.monotonic() < deadline:
            worker = running_worker(ray_tmp)
            if worker is not None:
                worker.send_signal(signal.SIGKILL)
                killed = worker.pid
            time.sleep(0.005)
        _, stderr = p.communicate(timeout=180)
    assert killed is not None, "no worker was seen running a unit"
    assert p.returncode == 3, stderr[-2000:]  # the broken bags
    report = json.loads((tmp_path / "ray" / "report.json").read_text())
    assert report["confusion"] == expected["confusion"] and report["frames"] == expected["frames"] == FLEET_FRAMES
    statuses = {(r["bag"], r["camera"]): r["status"] for r in report["per_bag"]}
    assert statuses == {(r["bag"], r["camera"]): r["status"] for r in expected["per_bag"]}
    assert len(report["nodes"]) == 1
    pids = {json.loads(line)["result"]["pid"] for line in (tmp_path / "ray/units.jsonl").read_text().splitlines()}
    assert killed not in pids and len(pids) >= 2  # the killed one finished nothing; its restart did
    assert "INFO" not in stderr and "WARNING" not in stderr  # Ray's own logging stays quiet
    assert not ray_processes(ray_tmp)


IN_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('lednet_ros', run_name='__main__', alter_sys=True)"
)
"""``python -m lednet_ros`` as a terminal's foreground job runs it, Ctrl-C handled by Python.

A test run started in the background (``cmd &`` without job control)
passes SIGINT ignored to its children, and Python keeps it ignored: the
command then rightly ran to the end whatever the test sent (exit 3, every
unit finished, nothing on stderr).
"""


def test_ctrl_c_with_a_unit_in_flight_stops_within_seconds_keeps_finished_units_and_leaves_no_ray_process(
    fleet: Path, expected: dict, tmp_path: Path, ray_tmp: Path
) -> None:
    """The worker is let run in 2 ms steps until it has finished a unit, and is frozen for the Ctrl-C.

    So the run cannot finish before the Ctrl-C lands, however loaded the
    machine (all the fleet's units take a quarter of a second).
    """
    out = tmp_path / "ray"
    results = out / "units.jsonl"
    command = [sys.executable, "-c", IN_A_TERMINAL, "evaluate", *fleet_args(fleet, out, "--workers", "1")]
    env = {**psutil.Process().environ(), "RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled"}
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as p:
        deadline = time.monotonic() + 120
        worker = None
        while worker is None and p.poll() is None and time.monotonic() < deadline:
            worker = running_worker(ray_tmp)
            time.sleep(0.0 if worker else 0.005)
        assert worker is not None, "no worker was seen running a unit"
        worker.suspend()
        try:
            while not (results.exists() and results.read_text().count("\n") >= 1) and time.monotonic() < deadline:
                worker.resume()
                time.sleep(0.002)
                worker.suspend()
            p.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            _, stderr = p.communicate(timeout=60)
            stopped_s = time.monotonic() - interrupted
        finally:
            with contextlib.suppress(psutil.Error):
                worker.resume()
    assert p.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert stopped_s < 30
    kept = (out / "units.jsonl").read_text().splitlines()
    assert 1 <= len(kept) < 12 and all(json.loads(line)["result"]["status"] for line in kept)
    time.sleep(1.0)
    assert not ray_processes(ray_tmp)
    status, resumed = evaluate_in_process(fleet, out)  # the rerun (here without Ray) skips the kept units
    assert status == 3 and resumed["confusion"] == expected["confusion"]
    lines = (out / "units.jsonl").read_text().splitlines()
    assert lines[: len(kept)] == kept and len(lines) == 12


def test_without_ray_a_ray_option_is_one_error_line_saying_how_to_install(tmp_path: Path, fleet: Path) -> None:
    hide = tmp_path / "hide"
    (hide / "ray").mkdir(parents=True)
    (hide / "ray" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    done = cli(["evaluate", *fleet_args(fleet, tmp_path / "out", "--workers", "2")], env={"PYTHONPATH": str(hide)})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Ray is not installed" in lines[0] and "pip install" in lines[0], done.stderr
