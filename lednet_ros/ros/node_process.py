"""``segmentation_node`` in a process of its own: its command line, starting it, stopping it.

Commands (``replay --start-node``, ``bench-node``), the soak benchmark and the
tests start the node the same way: the command line is built here, once,
from :class:`~lednet_ros.inference.options.EngineOptions` and the node's
parameter names (:mod:`lednet_ros.ros.parameters`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lednet_ros.inference.options import EngineOptions
from lednet_ros.ros.parameters import ParameterValue, engine_values

__all__ = ["NODE_MODULE", "cpu_seconds", "engine_parameters", "node_command", "start_node_process", "stop_node_process"]

NODE_MODULE = "lednet_ros.ros.node"
"""``python -m NODE_MODULE`` runs the node, as the ``segmentation_node`` executable does."""


def engine_parameters(options: EngineOptions) -> tuple[dict[str, ParameterValue], dict[str, str]]:
    """``options`` as the node's parameters, and the environment to add.

    Unset weights and model size are left out (the node's defaults mean the
    same) and a weights path is made absolute. ``threads`` becomes ``OMP_NUM_THREADS``: the node has no
    threads parameter.
    """
    params = engine_values(options)
    if options.weights:
        params["weights"] = str(Path(options.weights).resolve())
    else:
        del params["weights"]
    if not options.model_size:
        del params["model_width"], params["model_height"]
    return params, ({"OMP_NUM_THREADS": str(options.threads)} if options.threads else {})


def _parameter_text(value: ParameterValue) -> str:
    """A value as ``--ros-args -p name:=value`` reads it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{item}'" for item in value) + "]"
    return str(value)


def node_command(
    namespace: str = "/",
    remaps: Mapping[str, str] | None = None,
    parameters: Mapping[str, ParameterValue] | None = None,
    *,
    python: str = sys.executable,
) -> list[str]:
    """The command line of a node in ``namespace`` with topic ``remaps`` and ``parameters``."""
    command = [python, "-m", NODE_MODULE, "--ros-args", "-r", f"__ns:={namespace}"]
    for source, target in (remaps or {}).items():
        command += ["-r", f"{source}:={target}"]
    for name, value in (parameters or {}).items():
        command += ["-p", f"{name}:={_parameter_text(value)}"]
    return command


def start_node_process(
    command: Sequence[str],
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr in ``log`` (a pipe when None) and ``env`` added to ours."""
    environment = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment)
    with log.open("wb") as handle:  # the child keeps its own descriptor
        return subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT, env=environment)


def stop_node_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 20.0) -> int | None:
    """Stop a node: SIGINT (it shuts down cleanly), SIGKILL after ``timeout_s``; its exit status."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
