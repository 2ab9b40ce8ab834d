"""The fleet report: the summed confusion matrix's scores, per camera and per bag, worst first.

The overall figures come from the sum of the units' confusion matrices (never
an average of per-bag mIoUs), and go through the offline evaluation's report
writer, so ``report.json``, ``confusion.png`` and ``per_class_iou.png`` read
as ``evaluate``'s do for one bag; the fleet adds the per-bag table, the
per-camera scores, the failures and a histogram of per-bag mIoU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.evaluation.offline import EvaluationResult
from lednet_ros.evaluation.report import iou_table, pyplot, write_report
from lednet_ros.fleet.units import STATUS_FAILED, STATUS_OK

if TYPE_CHECKING:
    from lednet_ros.model.classes import ClassConfig

__all__ = ["fleet_markdown", "has_failures", "write_fleet_report"]

COUNTERS = ("frames", "unpaired_images", "unpaired_labels", "corrupt_messages", "rejected_frames")
SCORED = (STATUS_OK, "incomplete")


def _matrix(results: list[dict[str, Any]], num_classes: int) -> ConfusionMatrix:
    matrix = ConfusionMatrix(num_classes)
    for result in results:
        if result["status"] in SCORED:
            matrix.matrix += np.asarray(result["confusion"], dtype=np.int64)
            matrix.missed += np.asarray(result["missed"], dtype=np.int64)
    return matrix


def _per_bag(results: list[dict[str, Any]], classes: ClassConfig) -> list[dict[str, Any]]:
    """One row per bag and camera (slices merged), failed ones first, then the worst mIoU first."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["bag"], result["image_topic"]), []).append(result)
    rows = []
    for (bag, camera), parts in groups.items():
        scores = _matrix(parts, classes.num_classes).scores()
        statuses = [p["status"] for p in parts]
        status = next((s for s in (STATUS_FAILED, "incomplete") if s in statuses), statuses[0])
        timed = sum(p.get("inference_ms_total", 0.0) for p in parts)
        frames = sum(p.get("frames", 0) for p in parts)
        rows.append({
            "bag": bag, "camera": camera, "status": status,
            "reason": "; ".join(dict.fromkeys(p["reason"] for p in parts if p.get("reason"))),
            **{k: sum(p.get(k, 0) for p in parts) for k in COUNTERS},
            "miou": None if math.isnan(scores.miou) else round(scores.miou, 6),
            "pixel_accuracy": None if math.isnan(scores.pixel_accuracy) else round(scores.pixel_accuracy, 6),
            "inference_ms_mean": round(timed / frames, 2) if frames and timed else None,
            "nodes": sorted({p["node_id"] for p in parts if p.get("node_id")}),
        })  # fmt: skip
    order = {STATUS_FAILED: 0, "incomplete": 1, STATUS_OK: 2}
    return sorted(rows, key=lambda r: (order.get(r["status"], 3), 2.0 if r["miou"] is None else r["miou"]))


def write_fleet_report(results: list[dict[str, Any]], classes: ClassConfig, out: Path,
                       context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """``report.json``, ``confusion.png``, ``per_class_iou.png``, ``miou_histogram.png``; returns the JSON data."""
    matrix = _matrix(results, classes.num_classes)
    counters = {k: sum(r.get(k, 0) for r in results if r["status"] in SCORED) for k in COUNTERS}
    rows = _per_bag(results, classes)
    cameras = sorted({r["image_topic"] for r in results})
    per_camera = {
        camera: _matrix([r for r in results if r["image_topic"] == camera], classes.num_classes)
        .scores()
        .to_dict(classes.names)
        for camera in cameras
    }
    timed = sum(r.get("inference_ms_total", 0.0) for r in results)
    evaluation = EvaluationResult(matrix.scores(), counters["frames"], counters["unpaired_images"],
                                  counters["unpaired_labels"], counters["corrupt_messages"],
                                  counters["rejected_frames"], confusion=matrix.matrix, missed=matrix.missed)  # fmt: skip
    report = write_report(evaluation, classes, out, {
        **context, "inference_ms": {"mean": round(timed / counters["frames"], 2) if counters["frames"] else None},
        "bags": len({r["bag"] for r in results}), "units": len(results), "per_camera": per_camera, "per_bag": rows,
        "nodes": sorted({r["node_id"] for r in results if r.get("node_id")}),
        "confusion": matrix.matrix.tolist(), "missed": matrix.missed.tolist(),
    })  # fmt: skip
    _write_histogram([r["miou"] for r in rows if r["miou"] is not None], out / "miou_histogram.png")
    return report


def _write_histogram(mious: list[float], path: Path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(7, 3.6), dpi=100)
    axis.hist([100 * m for m in mious], bins=20, range=(0, 100), color="tab:blue", edgecolor="black", linewidth=0.5)
    axis.set_xlabel("mIoU of the bag (%)")
    axis.set_ylabel("bags")
    axis.set_title(f"per-bag mIoU, {len(mious)} bags scored")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def has_failures(report: dict[str, Any]) -> bool:
    """Whether a bag failed or was scored only in part (the command's exit status 3)."""
    return any(row["status"] in (STATUS_FAILED, "incomplete") for row in report["per_bag"])


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def fleet_markdown(report: dict[str, Any], names: tuple[str, ...]) -> str:
    """``report.md`` of a fleet evaluation, from :func:`write_fleet_report`'s data."""
    rows = report["per_bag"]
    lines = [
        f"# Fleet evaluation: {report['bags']} bags, {report['units']} units", "",
        f"- mIoU **{_cell(report['miou'])}%**, pixel accuracy {_cell(report['pixel_accuracy'])}% "
        f"(summed confusion matrix of {report['frames']} frames)",
        f"- unpaired images {report['unpaired_images']}, unpaired labels {report['unpaired_labels']}, corrupt "
        f"messages {report['corrupt_messages']}, frames over the size limits {report['rejected_frames']}",
        f"- weights: {report.get('weights')}; inference mean {report['inference_ms']['mean']} ms/frame",
        f"- failed or incomplete: {sum(r['status'] in ('failed', 'incomplete') for r in rows)}; without labels: "
        f"{sum(r['status'] == 'no labels' for r in rows)}; nodes: {len(report['nodes']) or 'this process'}", "",
        "## Per camera", "", "| camera | mIoU % | pixel accuracy % |", "| --- | ---: | ---: |",
        *(f"| {c} | {_cell(s['miou'])} | {_cell(s['pixel_accuracy'])} |" for c, s in report["per_camera"].items()),
        "", "## Per bag (failed first, then the worst mIoU first)", "",
        "| bag | camera | status | frames | mIoU % | ms/frame | note |", "| --- | --- | --- | ---: | ---: | ---: | --- |",
        *(f"| {r['bag']} | {r['camera']} | {r['status']} | {r['frames']} | {_cell(r['miou'])} | "
          f"{r['inference_ms_mean'] or 'n/a'} | {r['reason']} |" for r in rows),
        "", "## Per class", "", *iou_table(names, report["per_class_iou"]), "",
    ]  # fmt: skip
    return "\n".join(lines)
