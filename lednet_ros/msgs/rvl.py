"""RVL, the lossless depth codec of image_transport's ``compressedDepth`` plugin (Jazzy on), decoded with NumPy.

RVL (Wilson, "Fast Lossless Depth Image Compression", 2017) codes a 16-bit
image as runs: the number of zero pixels, the number of non-zero pixels
that follow, then each of those as the zigzag-coded difference from the
previous non-zero pixel (carried across runs, starting at 0). Every number
is a variable-length code of 3-bit groups, lowest first, each in a nibble
whose top bit says that another group follows. Nibbles fill 32-bit words
from the most significant end; the words lie in the machine's byte order,
little-endian on every platform ROS 2 runs on. The plugin writes the
image's width and height as two little-endian uint32 in front.

The decoder here is vectorised: one pass turns the words into numbers, a
loop over the runs (not the pixels) finds where each run lies, and the
pixels are placed and summed by NumPy. A stream that is short, that
describes more pixels than the header's width x height, or whose numbers
are longer than 32 bits is refused, where the plugin's C++ decoder would
read or write past its buffers.
"""

from __future__ import annotations

import struct

import numpy as np

from lednet_ros.errors import ImageEncodingError

__all__ = ["RVL_SIZE", "decode_rvl", "rvl_max_bytes", "rvl_size"]

RVL_SIZE = struct.Struct("<II")
"""The plugin's RVL prefix: width, height (uint32, little-endian)."""

_MAX_GROUPS = 11  # 11 x 3 bits: the most a 32-bit value needs


def rvl_size(data: memoryview) -> tuple[int, int]:
    """(width, height) from an RVL payload's 8-byte prefix.

    Raises:
        ImageEncodingError: fewer than 8 bytes.
    """
    if len(data) < RVL_SIZE.size:
        msg = f"RVL payload truncated ({len(data)} bytes, its width and height need {RVL_SIZE.size})"
        raise ImageEncodingError(msg)
    width, height = RVL_SIZE.unpack(data[: RVL_SIZE.size])
    return width, height


def rvl_max_bytes(pixels: int) -> int:
    """The longest RVL stream (after the size prefix) of ``pixels`` pixels.

    Each pixel costs at most 6 nibbles of difference plus, as a run of its
    own, 2 nibbles of counts, padded to whole 32-bit words; the plugin's
    encoder allots 3 bytes a pixel and 4 more.
    """
    return 3 * pixels + 4


def _numbers(stream: memoryview) -> np.ndarray:
    """The variable-length numbers of an RVL stream, in order (int64); a trailing unfinished one is dropped."""
    usable = len(stream) // 4 * 4
    # A little-endian word's nibbles, most significant first: its bytes backwards, high nibble before low.
    octets = np.frombuffer(stream[:usable], np.uint8).reshape(-1, 4)[:, ::-1].reshape(-1)
    nibbles = np.empty(octets.size * 2, np.uint8)
    nibbles[0::2], nibbles[1::2] = octets >> 4, octets & 0xF
    ends = np.flatnonzero(nibbles < 8)  # top bit clear: the last group of a number
    if ends.size == 0:
        return np.zeros(0, np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS:
        msg = f"RVL stream holds a number of {lengths.max()} groups (at most {_MAX_GROUPS} fit 32 bits)"
        raise ImageEncodingError(msg)
    values = (nibbles[starts] & 7).astype(np.int64)
    longer = np.flatnonzero(lengths > 1)  # most numbers take one or two nibbles: only the longer ones go on
    for group in range(1, int(lengths.max())):
        values[longer] |= (nibbles[starts[longer] + group] & 7).astype(np.int64) << (3 * group)
        longer = longer[lengths[longer] > group + 1]
    return values


def _run_starts(numbers: list[int]) -> list[int]:
    """Where each run's (zeros, non-zeros) pair starts in ``numbers``: a jump over each run's differences."""
    starts = []
    index, total = 0, len(numbers)
    while index < total:
        starts.append(index)
        index += 2 + (numbers[index + 1] if index + 1 < total else 0)
    return starts


def _nonzero_runs(numbers: np.ndarray, pixels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The zeros and non-zeros of each run up to the image's last pixel, and where their numbers end.

    Raises:
        ImageEncodingError: the runs stop short of ``pixels``, overrun it, or
            promise differences the stream does not hold.
    """
    starts = np.asarray(_run_starts(numbers.tolist()), np.int64)
    zeros = numbers[starts]
    has_count = starts + 1 < numbers.size
    nonzeros = np.where(has_count, numbers[np.minimum(starts + 1, numbers.size - 1)], 0)
    done = np.cumsum(zeros + nonzeros)
    last = int(np.searchsorted(done, pixels))  # the run that reaches the last pixel
    if last == done.size:
        msg = f"RVL stream ends after {int(done[-1]) if done.size else 0} of {pixels} pixels"
        raise ImageEncodingError(msg)
    if done[last] > pixels:
        before = int(done[last - 1]) if last else 0
        msg = f"RVL run of {zeros[last]} zero and {nonzeros[last]} non-zero pixels overruns the image at pixel {before} of {pixels}"
        raise ImageEncodingError(msg)
    end = int(starts[last]) + 2 + int(nonzeros[last])
    if end > numbers.size + (0 if nonzeros[last] else 1):
        msg = f"RVL stream ends inside its last run ({numbers.size} numbers, the runs need {end})"
        raise ImageEncodingError(msg)
    return zeros[: last + 1], nonzeros[: last + 1], min(end, numbers.size)


def decode_rvl(stream: memoryview, width: int, height: int) -> np.ndarray:
    """An RVL stream (after the 8-byte size prefix) as a ``height`` x ``width`` uint16 image.

    The caller has checked ``width`` x ``height`` against the frame limits;
    a stream longer than :func:`rvl_max_bytes` for that size is refused
    before it is read, so the work is bounded by the size too.

    Raises:
        ImageEncodingError: a stream too long for the size, short of the
            size, describing more pixels, or with a number over 32 bits.
    """
    pixels = width * height
    if len(stream) > rvl_max_bytes(pixels):
        msg = f"RVL stream of {len(stream)} bytes is longer than any for {width}x{height} ({rvl_max_bytes(pixels)})"
        raise ImageEncodingError(msg)
    numbers = _numbers(stream)
    zeros, nonzeros, end = _nonzero_runs(numbers, pixels)
    runs = zeros.size
    # Which pixels are non-zero, and which numbers are differences: each run's pattern repeated by its counts.
    at_pixels = np.repeat(np.tile(np.array([False, True]), runs), np.stack([zeros, nonzeros], 1).reshape(-1))
    pair = np.ones(runs, np.int64)
    is_difference = np.repeat(np.tile(np.array([False, False, True]), runs),
                              np.stack([pair, pair, nonzeros], 1).reshape(-1))[:end]  # fmt: skip
    coded = numbers[:end][is_difference]
    differences = (coded >> 1) ^ -(coded & 1)  # zigzag
    image = np.zeros(pixels, np.uint16)
    image[at_pixels] = (np.cumsum(differences) & 0xFFFF).astype(np.uint16)
    return image.reshape(height, width)
