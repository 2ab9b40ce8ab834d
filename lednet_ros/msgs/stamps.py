"""Header stamps of messages, and pairing two stamped streams; no rclpy.

The node pairs segmentations with depth frames, ``lednet-ros evaluate`` pairs
a bag's images with its labels, and both use :class:`StampPairing`, which
keeps a bounded number of unpaired items per side.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any, Generic, TypeVar

__all__ = ["StampPairing", "cdr_header_stamp_ns", "header_stamp_ns"]


def header_stamp_ns(header: object) -> int:
    """A ``std_msgs/Header`` stamp (rclpy or rosbags message) in nanoseconds."""
    stamp = header.stamp  # type: ignore[attr-defined]
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def cdr_header_stamp_ns(data: bytes | memoryview) -> int:
    """Header stamp of a CDR-serialised message that starts with ``std_msgs/Header``.

    Reads 8 bytes instead of deserialising a whole image: a CDR payload is a
    4-byte encapsulation header (byte 1 is 1 for little endian), then the
    stamp's ``int32 sec`` and ``uint32 nanosec``.

    Raises:
        ValueError: the payload is too short to hold a header.
    """
    if len(data) < 12:
        msg = f"a {len(data)}-byte payload cannot hold a header"
        raise ValueError(msg)
    sec, nanosec = struct.unpack_from("<iI" if data[1] == 1 else ">iI", data, 4)
    return sec * 1_000_000_000 + nanosec


T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")


class _Waiting(Generic[V]):
    """One side of a :class:`StampPairing`: its unpaired items, oldest first, and how many it gave up on."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.items: deque[tuple[int, V]] = deque()
        self.unpaired = 0

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> tuple[int, V] | None:
        best = min(self.items, key=lambda entry: abs(entry[0] - stamp_ns), default=None)
        if best is None or abs(best[0] - stamp_ns) > tolerance_ns:
            return None
        return best

    def push(self, stamp_ns: int, item: V) -> None:
        self.items.append((stamp_ns, item))
        if len(self.items) > self.keep:
            self.items.popleft()
            self.unpaired += 1

    def drop_up_to(self, stamp_ns: int) -> None:
        """Remove the item paired at ``stamp_ns`` and everything older (the older ones unpaired)."""
        while self.items and self.items[0][0] <= stamp_ns:
            if self.items.popleft()[0] != stamp_ns:
                self.unpaired += 1


class StampPairing(Generic[T, U]):
    """Pairs two streams by nearest header stamp within a tolerance, as message_filters' ApproximateTime does.

    Either side may come first: the depth frame usually arrives before the
    segmentation of the colour frame of the same instant finishes (inference
    takes longer than transport), but on a fast GPU it can be the other way
    round. Each side keeps its ``keep`` newest items; an item is used at
    most once, and once a pair is made, older items of both sides are
    dropped (streams do not go back in time).
    """

    def __init__(self, tolerance_ns: int, keep: int = 8) -> None:
        if tolerance_ns < 0 or keep < 1:
            msg = f"tolerance must be >= 0 and keep >= 1, got {tolerance_ns}, {keep}"
            raise ValueError(msg)
        self.tolerance_ns = tolerance_ns
        self.keep = keep
        self._left: _Waiting[T] = _Waiting(keep)
        self._right: _Waiting[U] = _Waiting(keep)

    @property
    def unpaired_left(self) -> int:
        """Left items discarded without a partner (too old, or pushed out by newer ones)."""
        return self._left.unpaired

    @property
    def unpaired_right(self) -> int:
        """Right items discarded without a partner."""
        return self._right.unpaired

    def add_left(self, stamp_ns: int, item: T) -> tuple[T, U] | None:
        """Offer a left item (e.g. a segmentation result); returns the pair it completes, if any."""
        match = self._offer(self._left, self._right, stamp_ns, item)
        return None if match is None else (item, match[1])

    def add_right(self, stamp_ns: int, item: U) -> tuple[T, U] | None:
        """Offer a right item (e.g. a depth frame); returns the pair it completes, if any."""
        match = self._offer(self._right, self._left, stamp_ns, item)
        return None if match is None else (match[1], item)

    def _offer(self, own: _Waiting[V], other: _Waiting[Any], stamp_ns: int, item: V) -> tuple[int, Any] | None:
        """Pair ``item`` with the nearest waiting item of the other side, or keep it waiting."""
        match = other.nearest(stamp_ns, self.tolerance_ns)
        if match is None:
            own.push(stamp_ns, item)
            return None
        own.drop_up_to(stamp_ns)
        other.drop_up_to(match[0])
        return match
