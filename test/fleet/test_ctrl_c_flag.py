"""Ctrl-C while the driver works with Ray: a flag first, so that the cluster's shutdown completes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from lednet_ros.fleet.cluster import _ctrl_c_as_flag


@pytest.fixture(autouse=True)
def python_default_ctrl_c() -> Iterator[None]:
    """Python's own SIGINT handler, as in a terminal's foreground job.

    A test run started in the background (``cmd &`` without job control)
    inherits SIGINT ignored, and Python then keeps it ignored.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def ctrl_c() -> None:
    """SIGINT to this process; its handler runs in the main thread before the next statement."""
    os.kill(os.getpid(), signal.SIGINT)


def test_the_first_ctrl_c_sets_the_flag_the_second_raises_and_the_handler_is_given_back() -> None:
    with _ctrl_c_as_flag() as interrupted:
        assert not interrupted.is_set()
        ctrl_c()
        assert interrupted.is_set()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        ctrl_c()


def test_ctrl_c_ignored_stays_ignored() -> None:
    """``nohup`` and background jobs: the run is not to be stopped by Ctrl-C, so the flag never rises."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _ctrl_c_as_flag() as interrupted:
        ctrl_c()
    assert not interrupted.is_set() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_a_handler_someone_else_set_is_left_alone() -> None:
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    try:
        with _ctrl_c_as_flag() as interrupted:
            ctrl_c()
        assert seen == [signal.SIGINT] and not interrupted.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_off_the_main_thread_nothing_is_installed() -> None:
    found = []

    def run() -> None:
        with _ctrl_c_as_flag() as interrupted:
            found.append((interrupted.is_set(), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert found == [(False, signal.default_int_handler)]
