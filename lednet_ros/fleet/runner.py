"""Run a job over units: in this process one after another, or on a Ray cluster; resumable either way.

Every finished unit's result is appended to ``units.jsonl`` under the output
folder at once, keyed by :func:`~lednet_ros.fleet.units.unit_key` (the bag's
path, size and mtime, the weights' sha256, the engine and job options). A
rerun after Ctrl-C or a crash takes those results as they are and computes
only the rest, so its report is the one an uninterrupted run gives;
``force`` recomputes everything. Results of units lost to the cluster (a
worker gone for good) are not kept: the next run retries them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from lednet_ros.fleet.units import Unit, unit_key

if TYPE_CHECKING:
    from lednet_ros.fleet.work import Job
    from lednet_ros.inference.options import EngineOptions

__all__ = ["RESULTS_FILE", "ClusterOptions", "ResultLog", "run_units", "wants_ray"]

RESULTS_FILE = "units.jsonl"
TRANSIENT = "transient"
"""Marks a result the cluster, not the bag, caused (a worker lost beyond its retries): never kept for a rerun."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide to run on Ray (:mod:`lednet_ros.fleet.cluster`)."""

    address: str | None = None
    """An existing cluster (``ray://`` or ``HOST:PORT``); None starts a local one on loopback and stops it after."""
    workers: int | None = None
    """Model actors; default: the cluster's CPUs (or GPUs) divided by one worker's share."""
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0


def wants_ray(workers: int | None, address: str | None) -> bool:
    """Ray runs the job when asked by ``--workers``, ``--address`` or ``RAY_ADDRESS``; else it is never imported."""
    return workers is not None or bool(address) or bool(os.environ.get("RAY_ADDRESS"))


class ResultLog:
    """``units.jsonl``: one line per finished unit, ``{"key": ..., "result": ...}``, flushed as it is written."""

    def __init__(self, path: Path, *, force: bool = False) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if force:
            path.unlink(missing_ok=True)
        elif path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.done[entry["key"]] = entry["result"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that unit runs again
        self._stream = path.open("a", encoding="utf-8")

    def add(self, key: str, result: dict[str, Any]) -> None:
        """Keep a unit's result (unless the cluster, not the bag, caused its failure)."""
        if result.get(TRANSIENT):
            return
        self.done[key] = result
        self._stream.write(json.dumps({"key": key, "result": result}) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        """Close the file."""
        self._stream.close()


def _weights_digest(options: EngineOptions) -> str | None:
    from lednet_ros.model.checkpoint import load_weights  # noqa: PLC0415 (torch)

    return load_weights(options.weights).sha256


def run_units(
    units: list[Unit],
    job: Job,
    options: EngineOptions,
    out: Path,
    *,
    cluster: ClusterOptions | None = None,
    force: bool = False,
    progress: bool = True,
    on_result: Callable[[Unit, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every unit's result, in the units' order (resumed ones from ``units.jsonl``).

    ``on_result`` sees each result as it arrives (resumed ones included), e.g.
    to keep the hardest frames without a second pass.

    Raises:
        LednetError: the engine or the cluster cannot start (Ray missing: how to install it).
    """
    described = {"job": job.describe(), "weights_sha256": _weights_digest(options), "engine": asdict(options)}
    keys = [unit_key(unit, described) for unit in units]
    log = ResultLog(out / RESULTS_FILE, force=force)
    results: dict[int, dict[str, Any]] = {}
    todo = [i for i, key in enumerate(keys) if key not in log.done]
    bar = tqdm(total=sum(units[i].frames for i in todo), desc=f"{job.describe()['kind']}", unit="frame",
               disable=None if progress else True, dynamic_ncols=True)  # fmt: skip

    def finished(index: int, result: dict[str, Any], *, resumed: bool = False) -> None:
        results[index] = result
        if not resumed:
            log.add(keys[index], result)
        bar.update(units[index].frames)
        if on_result is not None:
            on_result(units[index], result)

    try:
        for i, key in enumerate(keys):
            if key in log.done:
                finished(i, log.done[key], resumed=True)
        if cluster is not None and todo:
            from lednet_ros.fleet.cluster import run_on_ray  # noqa: PLC0415 (Ray only when asked for)

            run_on_ray([(i, units[i]) for i in todo], job, options, cluster, finished)
        elif todo:
            engine = options.build_engine() if job.needs_engine else None
            for i in todo:
                finished(i, job(engine, units[i]))
    finally:
        bar.close()
        log.close()
    return [results[i] for i in range(len(units))]
