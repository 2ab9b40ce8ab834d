"""The ``segmentation/<name>/compressed`` twin of every image output, encoded on a thread of its own.

image_transport publishes every image topic also as ``<topic>/compressed``
(``sensor_msgs/CompressedImage``), and rviz2, rqt_image_view, Foxglove and
``republish`` subscribe there to watch over a thin link. The twins here
carry the raw output's header and are written as the ``compressed`` plugin
writes them (:mod:`lednet_ros.msgs.compressed_output`): labels and
confidence as PNG, decoding to exactly the raw image; colour and overlay as
JPEG at ``jpeg_quality`` or as PNG (``compressed_format``).

Lazy as every output: an output is computed when its raw topic or its twin
has a subscriber (:func:`computed_outputs`), and a twin is encoded only
while it has one. Encoding runs on the :class:`CompressedEncoder` thread,
not on the executor's and not on the inference thread, which hands the
finished arrays over and goes on with the next frame. The encoder keeps
only the newest frame of each camera: a frame superseded before it was
encoded is counted, like the input's dropped frames.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sensor_msgs.msg import CompressedImage

from lednet_ros.msgs.compressed_output import Codec, codec_for, encode_compressed_output
from lednet_ros.ros.topics import IMAGE_OUTPUTS, in_namespace, output_topic

__all__ = [
    "COMPRESSED",
    "COMPRESSED_OUTPUTS",
    "CompressedEncoder",
    "EncoderCounts",
    "compressed_output",
    "computed_outputs",
    "twin_publishers",
]

COMPRESSED = "compressed"
"""image_transport's name of the compressed transport: the twin of ``segmentation/labels`` is ``segmentation/labels/compressed``."""

_WARN_THROTTLE_S = 5.0


def compressed_output(name: str) -> str:
    """The output name (and topic under ``segmentation/``) of ``name``'s compressed twin."""
    return f"{name}/{COMPRESSED}"


COMPRESSED_OUTPUTS = tuple(compressed_output(name) for name in IMAGE_OUTPUTS)
"""The twins' output names: ``labels/compressed`` ..."""


def twin_publishers(node: Any, namespace: str, qos: Any) -> dict[str, Any]:
    """One camera's ``CompressedImage`` publishers, by twin name (they join the camera's publishers)."""
    return {
        twin: node.create_publisher(CompressedImage, in_namespace(namespace, output_topic(twin)), qos)
        for twin in COMPRESSED_OUTPUTS
    }


def computed_outputs(wanted: Iterable[str]) -> set[str]:
    """The outputs to compute: those wanted raw, and those whose compressed twin is wanted."""
    suffix = f"/{COMPRESSED}"
    return {name.removesuffix(suffix) for name in wanted}


@dataclass
class EncoderCounts:
    """What the encoder did for one camera (read under its lock)."""

    superseded: int = 0
    """Frames replaced by a newer one of the same camera before they were encoded."""
    failed: int = 0
    """Twins that could not be encoded or published."""
    encode_ms: float = 0.0
    """Time to encode and publish the last frame's twins."""


@dataclass
class _Job:
    key: int
    header: Any
    images: list[tuple[str, Any, str]]  # (output name, pixels, encoding)
    publishers: dict[str, Any]
    telemetry: Any


@dataclass
class CompressedEncoder:
    """One thread that encodes and publishes the compressed twins of every camera, newest frame first.

    ``jpeg_quality`` is called for each frame (the parameter may change at
    run time); ``colour_format`` is the colour outputs' codec.
    """

    logger: Any
    jpeg_quality: Callable[[], int]
    colour_format: Codec
    _counts: dict[int, EncoderCounts] = field(default_factory=dict)
    _boxes: dict[int, _Job] = field(default_factory=dict)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _running: bool = False
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (the node's activate step)."""
        with self._wake:
            self._running = True
        self._thread = threading.Thread(target=self._loop, name="lednet_compressed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (before the publishers may go); unencoded frames count as superseded."""
        with self._wake:
            self._running = False
            self._wake.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        with self._wake:
            for key in self._boxes:
                self._count(key).superseded += 1
            self._boxes.clear()

    def counts(self, key: int) -> EncoderCounts:
        """A copy of what the encoder did for the camera ``key`` (the diagnostics timer's reading)."""
        with self._wake:
            counts = self._count(key)
            return EncoderCounts(counts.superseded, counts.failed, counts.encode_ms)

    def _count(self, key: int) -> EncoderCounts:
        """The camera's counts (the caller holds the lock)."""
        return self._counts.setdefault(key, EncoderCounts())

    def submit(self, key: int, header: Any, images: list[tuple[str, Any, str]], camera: Any) -> None:
        """Hand over one frame's outputs (name, pixels, encoding) whose twins are wanted; returns at once."""
        if not images:
            return
        with self._wake:
            if key in self._boxes:
                self._count(key).superseded += 1
            self._boxes[key] = _Job(key, header, images, camera.publishers, camera.telemetry)
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._running and not self._boxes:
                    self._wake.wait(timeout=0.5)
                if not self._running:
                    return
                _, job = self._boxes.popitem()
            self._encode(job)

    def _encode(self, job: _Job) -> None:
        started = time.perf_counter()
        quality = int(self.jpeg_quality())
        for name, pixels, encoding in job.images:
            twin = compressed_output(name)
            try:
                message = CompressedImage()
                message.header = job.header
                codec = codec_for(encoding, self.colour_format)
                message.format, message.data = encode_compressed_output(pixels, encoding, codec, jpeg_quality=quality)
                job.publishers[twin].publish(message)
            except Exception as exc:  # counted; the other twins and later frames still go out
                with self._wake:
                    self._count(job.key).failed += 1
                self.logger.error(f"{twin}: encoding failed: {type(exc).__name__}: {exc}",
                                  throttle_duration_sec=_WARN_THROTTLE_S)  # fmt: skip
                continue
            job.telemetry.on_output(twin)
        with self._wake:
            self._count(job.key).encode_ms = (time.perf_counter() - started) * 1000.0
