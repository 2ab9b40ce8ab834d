"""Spinning a node until SIGINT or SIGTERM, without the shutdown race's traceback.

rclpy's own signal handler shuts the context down from a signal, at any point
of the executor's loop. When that lands between two waits, the executor's
next ``WaitSet`` is built on a context that is already invalid and
``rclpy.spin`` raises ``RCLError: failed to initialize wait set: the given
context is not valid`` instead of ``ExternalShutdownException`` (a known race:
ros2/rclpy#398, ros2/ros2cli#854; present in Humble to Kilted). A node stopped
by ``ros2 launch`` or a test's SIGTERM must still exit 0 and quietly, so this
helper treats a ``RuntimeError`` (``RCLError`` is one) that comes out of the
executor once the context is shut down as that shutdown. While the context is
still valid, every error propagates as before.

:func:`run_node` is a node executable's ``main``: start-up errors become one
line and exit status 1, and Ctrl-C from a terminal under ``ros2 launch``
exits 0 without a traceback (see :mod:`lednet_ros.ros.interrupts`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol

import rclpy
from rclpy.exceptions import InvalidParameterValueException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from lednet_ros.errors import LednetError
from lednet_ros.ros.interrupts import StartupInterrupts

__all__ = ["StartupInterrupts", "run_node", "spin_until_shutdown"]


class StoppableNode(Protocol):
    """A node with a ``stop()`` that ends its own threads before ``destroy_node()``."""

    def stop(self) -> None: ...

    def destroy_node(self) -> None: ...


def spin_until_shutdown(node: Node) -> None:
    """Spin ``node`` until its context is shut down (Ctrl-C, SIGTERM, ``rclpy.shutdown``).

    Raises:
        RuntimeError: an executor error while the context is still valid (a real fault).
    """
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        return
    except RuntimeError:  # rclpy's RCLError derives from RuntimeError
        if node.context.ok():
            raise


def run_node(
    factory: Callable[[], StoppableNode],
    name: str,
    args: list[str] | None = None,
    interrupts: StartupInterrupts | None = None,
) -> int:
    """Run the node ``factory`` makes until Ctrl-C or SIGTERM; the process's exit status.

    A start-up error (:class:`~lednet_ros.errors.LednetError`, a file, a
    parameter) prints one ``[name] error: ...`` line and returns 1, unless
    Ctrl-C came first: then it is what the interrupt broke, and the exit is 0.
    ``interrupts``: the handler the executable installed before its imports
    (:mod:`lednet_ros.ros.executables`); else one is installed here.
    """
    interrupts = interrupts or StartupInterrupts()  # before rclpy.init: rclpy's handler calls the one it finds
    try:
        rclpy.init(args=args)
    except RuntimeError as exc:  # RCLError: rcl cannot parse the command line (a -p value that is not YAML ...)
        interrupts.ignore()
        print(f"[{name}] error: cannot parse the ROS arguments: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    node: StoppableNode | None = None
    try:
        node = factory()
        interrupts.started()
        if not interrupts.interrupted:  # a Ctrl-C that start-up swallowed still stops the node
            spin_until_shutdown(node)  # type: ignore[arg-type]
    except KeyboardInterrupt:  # Ctrl-C during start-up (model load, warm-up)
        pass
    except (LednetError, OSError, ParameterException, InvalidParameterValueException) as exc:
        if not interrupts.interrupted:
            print(f"[{name}] error: {exc}", file=sys.stderr)
            return 1
    except Exception:
        if not interrupts.interrupted:
            raise
    finally:
        interrupts.ignore()  # a second Ctrl-C must not cut the clean-up or the interpreter's exit short
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
