"""Ctrl-C in a node process: an interrupt while it starts, a clean shutdown afterwards.

Imports nothing but the standard library, so an executable can install the
handler on its first line, before the seconds its heavy imports (torch)
take (:mod:`lednet_ros.ros.executables`).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["StartupInterrupts"]


class StartupInterrupts:
    """SIGINT raises ``KeyboardInterrupt`` only while the node starts up; later ones are ignored.

    A terminal's Ctrl-C goes to the whole process group: ``ros2 launch`` and
    the node get it at once, and launch then forwards a second SIGINT to the
    node. Python's default handler turned that second one into a
    ``KeyboardInterrupt`` in the middle of the clean-up (a traceback and exit
    code -2 in 9 of 10 runs). Installed before ``rclpy.init``, this handler is
    the one rclpy's own calls after it has shut the context down, which is
    all a spinning node needs. Start-up (loading weights, warming up) does
    not spin, so there the first SIGINT must still interrupt. Library code
    may turn that ``KeyboardInterrupt`` into another error or swallow it (it
    happened inside torch's ONNX export), so :attr:`interrupted` remembers it.
    """

    def __init__(self) -> None:
        self.starting = True
        self.interrupted = False
        """A SIGINT came while starting: whatever start-up does next, the node stops."""
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.starting:
            self.starting = False
            self.interrupted = True
            raise KeyboardInterrupt

    def started(self) -> None:
        """From now on SIGINT only ends the spin (rclpy's handler does that)."""
        self.starting = False

    def ignore(self) -> None:
        """Ignore SIGINT from now on: the node is shutting down.

        Python resets its handlers to the default while the interpreter
        finalizes, so a second Ctrl-C that arrives then (launch forwards one)
        would kill the process with exit code -2. An ignored signal stays
        ignored through finalization.
        """
        self.starting = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
