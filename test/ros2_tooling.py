"""The ROS 2 command-line tools users type (``ros2 launch``, ``ros2 param``, ``ros2 lifecycle``), for the tests.

They come from a ROS 2 install when its packages are importable (a sourced
``/opt/ros/<distro>``), else from ``../shared/ros2_tooling`` next to the
repository (the unchanged Jazzy packages, on ``PYTHONPATH`` beside the
``.venv``). Without either, the tests that need them skip and say why.

The package is built with ``colcon build`` into a temporary install, as a
user's workspace would be, and ``ros2 launch lednet_ros ...`` finds it
through ``AMENT_PREFIX_PATH``. Every ``ros2 launch`` starts in a session of
its own, like a terminal's foreground job: Ctrl-C is SIGINT to its process
group, and "nothing left running" means no process of that session
remains. ``ros2`` commands run with ``--no-daemon``, so no daemon outlives a
test either.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import ros_helpers  # noqa: F401 (a domain id of this test process, before any rclpy use)

REPO = Path(__file__).resolve().parent.parent
SHARED_TOOLING = REPO.parent / "shared" / "ros2_tooling"
NODE_READY = "segmenting "
"""What the node logs once it is up (the plain node at start-up, the managed one on activate)."""
CLEAN_EXIT = "process has finished cleanly"


def _tooling() -> tuple[list[str], list[str]]:
    """(the ``ros2`` command, paths to put on PYTHONPATH); skips where there is no tooling."""
    installed = shutil.which("ros2")
    if installed and all(importlib.util.find_spec(m) for m in ("launch_ros", "ros2cli", "ros2lifecycle")):
        return [installed], []
    script = SHARED_TOOLING / "site" / "bin" / "ros2"
    if script.is_file():
        if importlib.util.find_spec("psutil") is None:
            pytest.fail("ros2cli needs psutil: install the test extras (python3 test/run_tests.py does)")
        return [sys.executable, str(script)], [str(SHARED_TOOLING / "site"), str(SHARED_TOOLING / "stubs")]
    pytest.skip(
        "needs the ROS 2 tooling (ros2 launch/param/lifecycle): neither a ROS 2 install "
        f"(source /opt/ros/<distro>/setup.bash) nor {SHARED_TOOLING}"
    )


def session_processes(session: int) -> list[str]:
    """Command lines of the processes still in ``session`` (zombies are gone already)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
    return found


def daemons_of_this_domain() -> list[str]:
    """ros2 daemons of this test's domain id (none may be started: every command runs with --no-daemon)."""
    domain = os.environ["ROS_DOMAIN_ID"]
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ros2-daemon" in text and f"--ros-domain-id {domain} " in f"{text} ":
            found.append(text)
    return found


@dataclass
class Ros2:
    """``ros2`` with the package installed: run commands, start launches."""

    command: list[str]
    env: dict[str, str]
    install: Path
    daemon: bool = False
    """Whether a ros2 daemon of this domain may run (its user stops it, see :func:`with_daemon`)."""

    def run(self, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``ros2 ARGS`` to completion (its own session; nothing of it may stay behind)."""
        return self.run_tool("ros2", *args, timeout=timeout, env=env)

    def run_tool(
        self, tool: str, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """``tool ARGS`` (``ros2``, ``launch_test``) to completion, in a session of its own that must end empty."""
        command = [*self.command[:-1], str(Path(self.command[-1]).with_name(tool))]
        process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env={**self.env, **(env or {})}, start_new_session=True, text=True)  # fmt: skip
        try:
            out, _ = process.communicate(timeout=timeout)
        finally:
            _kill_session(process)
        assert not session_processes(process.pid), f"left running by {tool} {args}"
        return subprocess.CompletedProcess(process.args, process.returncode, out, "")

    def launch(self, log: Path, *args: str, env: dict[str, str] | None = None) -> Launch:
        """``ros2 launch lednet_ros segmentation.launch.py ARGS`` in a session of its own, output in ``log``."""
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [*self.command, "launch", "lednet_ros", "segmentation.launch.py", *args],
                stdout=handle, stderr=subprocess.STDOUT, env={**self.env, **(env or {})}, start_new_session=True,
            )  # fmt: skip
        return Launch(process, log, daemon_allowed=self.daemon)


@contextlib.contextmanager
def with_daemon(ros2: Ros2) -> Iterator[Ros2]:
    """``ros2`` with a daemon of this domain while the block runs, stopped (and checked gone) after it.

    ``ros2 lifecycle`` finds lifecycle nodes by their services; without a
    daemon each call has to discover them itself, which took over a second
    per call. The daemon keeps discovering in the background.
    """
    result = ros2.run("daemon", "start")
    assert result.returncode == 0, result.stdout
    try:
        yield replace(ros2, daemon=True)
    finally:
        ros2.run("daemon", "stop")
        deadline = time.monotonic() + 10
        while daemons_of_this_domain() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not daemons_of_this_domain(), "the ros2 daemon did not stop"


def _kill_session(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for _ in range(50):  # children may take a moment to go after their parent
        if not session_processes(process.pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.1)


@dataclass
class Launch:
    """A running ``ros2 launch``; as a context manager, it is ended whatever the block does."""

    process: subprocess.Popen
    log: Path
    daemon_allowed: bool = False

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Whatever happened in the block, nothing of the launch keeps running (checked unless it failed already)."""
        if kind is None:
            self.close()
        else:
            _kill_session(self.process)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def environment_of(self, executable: str) -> dict[str, str]:
        """The environment of the launched process running ``executable`` (from /proc)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[3]) != self.process.pid:
                    continue
                if executable not in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                    continue
                pairs = (stat.parent / "environ").read_bytes().decode(errors="replace").split("\0")
            except (OSError, IndexError, ValueError):
                continue
            return dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        raise AssertionError(f"no {executable} process in the launch")

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        """Wait until the output has ``text``; fails (with the output) if launch ends or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"launch ended ({self.process.returncode}):\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output()}"
            time.sleep(0.1)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C as a terminal sends it (SIGINT to the process group); launch's exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return -999

    def wait(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill whatever is left (a failed test) and check that nothing of the launch keeps running."""
        _kill_session(self.process)
        left = session_processes(self.process.pid)
        assert not left, f"still running after launch: {left}"
        assert self.daemon_allowed or not daemons_of_this_domain(), "a ros2 daemon was started"

    def assert_clean_interrupt(self) -> None:
        """Ctrl-C: exit 0, every process finished cleanly, no traceback, nothing left."""
        status = self.interrupt()
        text = self.output()
        assert status == 0, f"exit status {status}:\n{text}"
        assert CLEAN_EXIT in text and "Traceback" not in text and "has died" not in text, text
        self.close()


def build(workspace: Path) -> Ros2:
    """``colcon build`` of the repository into ``workspace``; the tools with it on their paths."""
    command, python_paths = _tooling()
    colcon = Path(sys.executable).with_name("colcon")
    result = subprocess.run(
        [str(colcon), "build", "--base-paths", str(REPO), "--packages-select", "lednet_ros",
         "--build-base", str(workspace / "build"), "--install-base", str(workspace / "install")],
        cwd=workspace, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    install = workspace / "install" / "lednet_ros"
    site = next((install / "lib").glob("python3*/site-packages"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *python_paths, *filter(None, [env.get("PYTHONPATH")])])
    env["AMENT_PREFIX_PATH"] = os.pathsep.join([str(install), env.get("AMENT_PREFIX_PATH") or sys.prefix])
    env["PYTHONUNBUFFERED"] = "1"
    return Ros2(command, env, install)


@pytest.fixture(scope="session", name="ros2")
def ros2_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ros2]:
    """The package built with colcon, and the ros2 tools that find it."""
    yield build(tmp_path_factory.mktemp("colcon_ws"))
