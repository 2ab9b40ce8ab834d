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
    words = np.frombuffer(stream[:usable], "<u4")
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    nibbles = ((words[:, None] >> shifts) & 0xF).astype(np.uint8).reshape(-1)
    ends = np.flatnonzero(nibbles < 8)  # top bit clear: the last group of a number
    if ends.size == 0:
        return np.zeros(0, np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS:
        msg = f"RVL stream holds a number of {lengths.max()} groups (at most {_MAX_GROUPS} fit 32 bits)"
        raise ImageEncodingError(msg)
    used = nibbles[: ends[-1] + 1].astype(np.int64) & 7
    position = np.arange(used.size) - np.repeat(starts, lengths)
    return np.add.reduceat(used << (3 * position), starts)


def _runs(numbers: list[int], pixels: int) -> tuple[list[int], list[int], list[int]]:
    """For each run with non-zero pixels: its first pixel, its length, and the index of its first difference."""
    firsts, counts, indices = [], [], []
    done = index = 0
    total = len(numbers)
    while done < pixels:
        if index >= total:
            msg = f"RVL stream ends after {done} of {pixels} pixels"
            raise ImageEncodingError(msg)
        zeros = numbers[index]
        nonzeros = numbers[index + 1] if index + 1 < total else 0
        if zeros + nonzeros > pixels - done:
            msg = (
                f"RVL run of {zeros} zero and {nonzeros} non-zero pixels overruns the image at pixel {done} of {pixels}"
            )
            raise ImageEncodingError(msg)
        if nonzeros and index + 2 + nonzeros > total:
            msg = f"RVL stream ends inside a run, after {done + zeros} of {pixels} pixels"
            raise ImageEncodingError(msg)
        if nonzeros:
            firsts.append(done + zeros)
            counts.append(nonzeros)
            indices.append(index + 2)
        done += zeros + nonzeros
        index += 2 + nonzeros
    return firsts, counts, indices


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
    firsts, counts, indices = _runs(numbers.tolist(), pixels)
    image = np.zeros(pixels, np.uint16)
    if counts:
        lengths = np.asarray(counts, np.int64)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        where = np.repeat(np.asarray(firsts, np.int64), lengths) + offsets
        coded = numbers[np.repeat(np.asarray(indices, np.int64), lengths) + offsets]
        differences = (coded >> 1) ^ -(coded & 1)  # zigzag
        image[where] = (np.cumsum(differences) & 0xFFFF).astype(np.uint16)
    return image.reshape(height, width)
