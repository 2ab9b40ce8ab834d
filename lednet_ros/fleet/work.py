"""What a worker does with one unit: a job is a small picklable object called with the worker's engine.

The same job objects run in the command's own process and inside Ray's
actors, so both paths score a frame with the same code: the offline
evaluation's (:func:`lednet_ros.evaluation.offline.run`) on the unit's window.
A unit's result is plain JSON data, small whatever the bag's length (a
confusion matrix and counters), written to the resume log as soon as it is
back.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lednet_ros.evaluation.offline import run as evaluate_bag
from lednet_ros.evaluation.stats import percentile_summary
from lednet_ros.fleet.units import STATUS_FAILED, STATUS_OK, Unit

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine
    from lednet_ros.model.classes import ClassConfig

__all__ = ["EvaluateJob", "Job", "failed_result", "unit_fields"]


class Job(Protocol):
    """A kind of work on units (evaluate, label)."""

    needs_engine: bool

    def describe(self) -> dict[str, object]:
        """The options a result depends on (part of the resume key)."""
        ...

    def __call__(self, engine: SegmentationEngine | None, unit: Unit) -> dict[str, Any]:
        """The unit's result; a failure is a result with status ``failed`` and its reason, never an exception."""
        ...


def unit_fields(unit: Unit) -> dict[str, Any]:
    """What identifies a unit in its result and in the reports, with the worker's process and its peak memory."""
    return {
        "bag": unit.bag, "image_topic": unit.camera.image_topic, "label_topic": unit.camera.label_topic,
        "part": unit.part, "parts": unit.parts, "pid": os.getpid(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip


def failed_result(unit: Unit, reason: str, status: str = STATUS_FAILED) -> dict[str, Any]:
    """A unit that produced nothing, with why."""
    return {**unit_fields(unit), "status": status, "reason": reason, "frames": 0}


@dataclass(frozen=True)
class EvaluateJob:
    """Score a unit's image/label pairs, as ``lednet-ros evaluate`` does one bag.

    A unit with frames over the size limits or corrupt messages still counts
    what it scored, and is marked ``incomplete`` with the reason, so that a
    fleet report lists it among the units to look at.
    """

    classes: ClassConfig
    tolerance_ms: float = 0.0
    predictions_topic: str | None = None
    max_pixels: int | None = None
    label_map: tuple[int, ...] | None = None
    """Source value -> train id for mono8 ground truth in another class set (:mod:`lednet_ros.data.label_map`)."""

    @property
    def needs_engine(self) -> bool:
        """Recorded predictions need no model."""
        return self.predictions_topic is None

    def describe(self) -> dict[str, object]:
        """The pairing and limit options."""
        return {"kind": "evaluate", "tolerance_ms": self.tolerance_ms, "predictions_topic": self.predictions_topic,
                "max_pixels": self.max_pixels, "classes": list(self.classes.names),
                "label_map": list(self.label_map) if self.label_map else None}  # fmt: skip

    def __call__(self, engine: SegmentationEngine | None, unit: Unit) -> dict[str, Any]:
        """The unit's confusion matrix and counters."""
        if unit.status:
            return failed_result(unit, unit.reason, unit.status)
        start = time.perf_counter()
        try:
            result = evaluate_bag(
                unit.bag, unit.camera.image_topic, unit.camera.label_topic, self.classes, engine=engine,
                predictions_topic=self.predictions_topic, tolerance_ms=self.tolerance_ms, samples=0,
                progress=False, max_pixels=self.max_pixels, window_ns=(unit.start_ns, unit.stop_ns),
                label_map=None if self.label_map is None else np.asarray(self.label_map, dtype=np.uint8),
            )  # fmt: skip
        except Exception as exc:  # a truncated or corrupt bag fails its unit only
            return failed_result(unit, f"{type(exc).__name__}: {exc}")
        problems = [f"{n} {what}" for n, what in ((result.rejected_frames, "frames over the size limits skipped"),
                                                  (result.corrupt_messages, "corrupt messages skipped")) if n]  # fmt: skip
        assert result.confusion is not None and result.missed is not None
        return {
            **unit_fields(unit), "status": "incomplete" if problems else STATUS_OK, "reason": "; ".join(problems),
            "frames": result.frames, "unpaired_images": result.unpaired_images,
            "unpaired_labels": result.unpaired_labels, "corrupt_messages": result.corrupt_messages,
            "rejected_frames": result.rejected_frames, "confusion": result.confusion.tolist(),
            "missed": result.missed.tolist(), "inference_ms": percentile_summary(result.inference_ms),
            "inference_ms_total": round(sum(result.inference_ms), 3), "seconds": round(time.perf_counter() - start, 3),
        }  # fmt: skip
