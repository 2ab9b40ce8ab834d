"""The Ray path: one stateful actor per worker, the model loaded once in each, units streamed through them.

Each actor reserves ``cpus_per_worker`` CPUs (and ``gpus_per_worker`` of a
GPU, a fraction sharing one) and builds the engine from the same
:class:`~lednet_ros.inference.options.EngineOptions` as everywhere else, with
as many threads as its CPUs unless ``--threads`` says otherwise. An actor
reads its unit's bag itself, frame by frame, with the project's rosbags
readers (sqlite3 and MCAP, the same pairing rules): no frame ever passes
through Ray's object store, only each unit's small result, and each actor
has one unit at a time, so memory stays bounded by a frame per worker and a
result per unit. There is no separate read stage to starve: two actors of
one CPU each finish on a 2-CPU machine.

With no address, a local cluster starts on loopback (``127.0.0.1``, no
dashboard, no usage statistics, no log forwarding) and stops at the end,
Ctrl-C included. A killed actor is restarted and its unit retried by Ray; a
unit whose worker is lost beyond that is reported failed and kept out of the
resume log, so the next run retries it. When a node is lost, its actors
restart on the others, as soon as an idle actor has ended and freed its CPUs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lednet_ros.errors import LednetError
from lednet_ros.fleet.runner import TRANSIENT, ClusterOptions
from lednet_ros.fleet.work import failed_result

if TYPE_CHECKING:
    from lednet_ros.fleet.units import Unit
    from lednet_ros.fleet.work import Job
    from lednet_ros.inference.options import EngineOptions

__all__ = ["RAY_INSTALL", "import_ray", "run_on_ray"]

RAY_INSTALL = "pip install 'lednet_ros[fleet]' (Ray 2.60: pip install ray==2.60.0)"
RETRIES = 3
"""Restarts of a killed actor, and retries of the unit it had, before the unit is reported failed."""
POLL_S = 0.2
"""How often the driver looks up from waiting on the cluster for a Ctrl-C."""


def import_ray() -> Any:
    """The ``ray`` module, quiet (no usage statistics).

    Raises:
        LednetError: Ray is not installed (the message says how to install it).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray  # noqa: PLC0415 (an optional extra, imported only when a cluster is asked for)
    except ImportError:
        msg = f"Ray is not installed; the fleet options (--workers, --address, RAY_ADDRESS) need it: {RAY_INSTALL}"
        raise LednetError(msg) from None
    return ray


class UnitWorker:
    """The actor: one engine for the worker's life, any number of units."""

    def __init__(self, options: EngineOptions, job: Job) -> None:
        self.job = job
        self.engine = options.build_engine() if job.needs_engine else None

    def run(self, unit: Unit) -> dict[str, Any]:
        """The job's result for ``unit``, with the node and process that computed it."""
        import ray  # noqa: PLC0415

        result = self.job(self.engine, unit)
        result["node_id"] = ray.get_runtime_context().get_node_id()
        return result


def _start(ray: Any, cluster: ClusterOptions) -> bool:
    """Connect or start; True when this process started the cluster (and so must stop it)."""
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if cluster.address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=cluster.address, **quiet)
        return False
    cpus = (cluster.workers or 0) * cluster.cpus_per_worker or os.cpu_count() or 1
    ray.init(num_cpus=max(1, round(cpus)), _node_ip_address="127.0.0.1", include_dashboard=False, **quiet)
    return True


def _worker_count(ray: Any, cluster: ClusterOptions) -> int:
    if cluster.workers:
        return cluster.workers
    resources = ray.cluster_resources()
    if cluster.gpus_per_worker:
        return max(1, int(resources.get("GPU", 0) / cluster.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) / cluster.cpus_per_worker))


def run_on_ray(work: list[tuple[int, Unit]], job: Job, options: EngineOptions, cluster: ClusterOptions,
               finished: Callable[[int, dict[str, Any]], None]) -> None:  # fmt: skip
    """Run ``job`` on every ``(index, unit)``; ``finished(index, result)`` as each one is back.

    Ctrl-C, once the cluster is up, stops the run: the units finished so far
    have been handed on, the cluster this process started is stopped whole
    (a second Ctrl-C interrupts that), then KeyboardInterrupt is raised.

    Raises:
        LednetError: Ray is missing or the cluster cannot be reached.
        KeyboardInterrupt: Ctrl-C.
    """
    ray = import_ray()
    try:
        started = _start(ray, cluster)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        msg = f"cannot start or reach the Ray cluster ({cluster.address or 'local'}): {exc}"
        raise LednetError(msg) from None
    with _ctrl_c_as_flag() as interrupted:
        try:
            threads = options.threads or max(1, int(cluster.cpus_per_worker))
            actor_class = ray.remote(
                num_cpus=cluster.cpus_per_worker, num_gpus=cluster.gpus_per_worker, max_restarts=RETRIES,
                max_task_retries=RETRIES,
            )(UnitWorker)  # fmt: skip
            worker_options = replace(options, threads=threads)
            count = min(_worker_count(ray, cluster), len(work))
            actors = [actor_class.remote(worker_options, job) for _ in range(count)]
            _stream(ray, actors, work, finished, lambda: actor_class.remote(worker_options, job), interrupted)
        finally:
            if started:
                ray.shutdown()
    if interrupted.is_set():  # during the shutdown, or during the last unit
        raise KeyboardInterrupt


@contextmanager
def _ctrl_c_as_flag() -> Iterator[threading.Event]:
    """While the driver works with Ray, the first Ctrl-C only sets a flag; the caller raises KeyboardInterrupt.

    A KeyboardInterrupt raised at whatever point Ray's calls had reached
    would stop ``ray.shutdown`` halfway and leave the rest of the stop to
    Ray's atexit hook; with the flag, the driver stops at a point of its
    choosing and the shutdown completes inside the call. A second Ctrl-C raises at once, for a shutdown that
    hangs. Left alone when SIGINT is ignored or handled by someone else, or
    off the main thread (where no handler can be set).
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield flag
        return

    def handle(signum: int, frame: Any) -> None:
        if flag.is_set():
            signal.default_int_handler(signum, frame)
        flag.set()

    signal.signal(signal.SIGINT, handle)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stream(ray: Any, actors: list[Any], work: list[tuple[int, Unit]],
            finished: Callable[[int, dict[str, Any]], None], new_actor: Callable[[], Any],
            interrupted: threading.Event) -> None:  # fmt: skip
    """One unit in flight per actor; the next goes to whichever actor is free first.

    An actor with nothing left to do ends at once: its CPUs then go to an
    actor that is restarting after its node was lost, which otherwise waits
    for them for ever while the unit it had is retried. ``interrupted`` is
    looked at every :data:`POLL_S` seconds and between units.

    Raises:
        KeyboardInterrupt: ``interrupted`` was set (Ctrl-C); the units finished so far have been handed on.
    """
    pending = list(reversed(work))
    flight: dict[Any, tuple[Any, int, Unit]] = {}

    def submit(actor: Any) -> None:
        if pending:
            index, unit = pending.pop()
            flight[actor.run.remote(unit)] = (actor, index, unit)
        else:
            ray.kill(actor, no_restart=True)

    for actor in actors:
        submit(actor)
    while flight:
        if interrupted.is_set():
            raise KeyboardInterrupt
        ready, _ = ray.wait(list(flight), num_returns=1, timeout=POLL_S)
        if not ready:
            continue
        ref = ready[0]
        actor, index, unit = flight.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:  # lost beyond its restarts: a fresh actor takes over
            result = {**failed_result(unit, f"worker lost: {type(exc).__name__}"), TRANSIENT: True}
            ray.kill(actor, no_restart=True)
            actor = new_actor()
        except ray.exceptions.RayError as exc:
            result = {**failed_result(unit, f"{type(exc).__name__}: {exc}"), TRANSIENT: True}
        finished(index, result)
        submit(actor)
