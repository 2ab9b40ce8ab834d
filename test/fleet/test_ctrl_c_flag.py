"""Ctrl-C while the driver works with Ray: a flag first, so that the cluster's shutdown completes."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from lednet_ros.fleet.cluster import _ctrl_c_as_flag


def ctrl_c() -> None:
    """SIGINT to this process; its handler runs in the main thread before the next statement."""
    os.kill(os.getpid(), signal.SIGINT)


def test_the_first_ctrl_c_sets_the_flag_the_second_raises_and_the_handler_is_given_back() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _ctrl_c_as_flag() as interrupted:
        assert not interrupted.is_set()
        ctrl_c()
        assert interrupted.is_set()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        ctrl_c()


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
