"""Report files a person opens: Markdown, JSON, PNG figures and GIFs, written in one place.

``evaluate``, ``replay`` and ``score`` share the per-class IoU table
(:func:`iou_table`), the accuracy report and its figures
(:func:`write_report`), and the matplotlib set-up (:func:`pyplot`), so the
three reports read alike and a change to one shows in all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lednet_ros.evaluation.stats import percentile_summary

if TYPE_CHECKING:
    from lednet_ros.evaluation.offline import EvaluationResult
    from lednet_ros.evaluation.tally import ReplayStats
    from lednet_ros.model.classes import ClassConfig

__all__ = [
    "evaluation_markdown",
    "iou_table",
    "pyplot",
    "replay_markdown",
    "write_confusion_png",
    "write_gif",
    "write_latency_png",
    "write_report",
    "write_results",
]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display on robots and CI)."""
    import matplotlib as mpl  # noqa: PLC0415 (heavy; only for commands that draw)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def iou_table(names: Sequence[str], ious: Sequence[float | None] | dict[str, float | None]) -> list[str]:
    """Per-class IoU as Markdown table lines (``n/a`` for a class absent from truth and prediction)."""
    values = [ious[name] for name in names] if isinstance(ious, dict) else list(ious)

    def cell(value: float | None) -> str:
        return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"

    return [
        "| class | IoU % |",
        "| --- | ---: |",
        *(f"| {n} | {cell(v)} |" for n, v in zip(names, values, strict=True)),
    ]


def write_results(out: Path, stem: str, command: str, markdown: str, data: dict[str, object]) -> tuple[Path, Path]:
    """Write ``OUT/STEM.md`` (the command, then ``markdown``) and ``OUT/STEM.json`` (``data`` plus the command)."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(f"# {command}\n\n{markdown}\n", encoding="utf-8")
    js.write_text(json.dumps({"command": command, **data}, indent=2) + "\n", encoding="utf-8")
    return md, js


def write_report(result: EvaluationResult, classes: ClassConfig, out: Path, context: dict[str, Any]) -> dict[str, Any]:
    """``report.json``, ``confusion.png``, ``per_class_iou.png`` and ``samples.png``; returns the JSON data.

    ``context`` (what was evaluated, with which weights ...) goes into the JSON as it is.
    """
    out.mkdir(parents=True, exist_ok=True)
    report = {
        **result.scores.to_dict(classes.names),
        "frames": result.frames, "unpaired_images": result.unpaired_images, "unpaired_labels": result.unpaired_labels,
        "corrupt_messages": result.corrupt_messages, "rejected_frames": result.rejected_frames,
        "inference_ms": percentile_summary(result.inference_ms), **context,
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if result.confusion is not None:
        write_confusion_png(result.confusion, classes, out / "confusion.png")
    _write_iou_png(result, classes, out / "per_class_iou.png")
    if result.samples:
        _write_samples_png(result.samples, classes, out / "samples.png")
    return report


def _write_iou_png(result: EvaluationResult, classes: ClassConfig, path: Path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(9, 4), dpi=100)
    ious = [0.0 if math.isnan(v) else 100 * v for v in result.scores.per_class_iou]
    colors = [tuple(c / 255 for c in color) for color in classes.colors]
    axis.bar(range(classes.num_classes), ious, color=colors, edgecolor="black", linewidth=0.5)
    axis.set_xticks(range(classes.num_classes), classes.names, rotation=60, ha="right", fontsize=8)
    axis.set_ylabel("IoU (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"per-class IoU, mIoU {100 * result.scores.miou:.1f}%")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _write_samples_png(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], classes: ClassConfig,
                       path: Path) -> None:  # fmt: skip
    """One row per sample: input, ground truth, prediction, and its errors in red."""
    plt = pyplot()
    palette = classes.palette()
    rows = []
    for image, truth, predicted in samples:
        errors = np.where(((truth != predicted) & (truth != classes.ignore_id))[..., None], [255, 0, 0], [40, 40, 40])
        rows.append(np.hstack([image, palette[truth], palette[predicted], errors.astype(np.uint8)]))
    width = max(r.shape[1] for r in rows)
    strip = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])
    fig = plt.figure(figsize=(12, 12 * strip.shape[0] / strip.shape[1] + 0.6), dpi=100)
    plt.imshow(strip)
    plt.axis("off")
    plt.title("input | ground truth | prediction | errors (red)", fontsize=10)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write_confusion_png(matrix: np.ndarray, classes: ClassConfig, path: Path) -> None:
    """Row-normalised confusion matrix as an image."""
    plt = pyplot()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=np.float64), where=rows > 0)
    fig, axis = plt.subplots(figsize=(8, 7), dpi=100)
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(classes.num_classes), classes.names, rotation=90, fontsize=7)
    axis.set_yticks(range(classes.num_classes), classes.names, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    axis.set_title("confusion matrix (rows normalised)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_latency_png(stats: ReplayStats, path: Path) -> None:
    """Latency of every frame over a replay, and its distribution."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), dpi=100, gridspec_kw={"width_ratios": [2, 1]})
    times = np.asarray(stats.receive_times_s) - (stats.first_receive_s or 0.0)
    left.plot(times, stats.latencies_ms, ".-", linewidth=0.7, markersize=3)
    left.set_xlabel("time since the first output (s)")
    left.set_ylabel("publish-to-labels latency (ms)")
    left.set_title(f"{stats.received} of {stats.sent} frames came back, {stats.output_hz:.1f} Hz")
    left.grid(alpha=0.3)
    right.hist(stats.latencies_ms, bins=30, color="tab:blue")
    right.set_xlabel("latency (ms)")
    right.set_title("distribution")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_gif(frames: list[np.ndarray], path: Path, frame_ms: float) -> Path:
    """An animated GIF of RGB frames (loops forever)."""
    from PIL import Image as PilImage  # noqa: PLC0415 (Pillow comes with matplotlib)

    images = [PilImage.fromarray(f).convert("P", palette=PilImage.Palette.ADAPTIVE) for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(frame_ms)), loop=0)
    return path


def _accuracy_line(report: dict[str, Any]) -> str:
    return (
        f"mIoU **{100 * report['miou']:.2f}%**, pixel accuracy {100 * report['pixel_accuracy']:.2f}%, "
        f"frequency-weighted IoU {100 * report['fw_iou']:.2f}%"
    )


def evaluation_markdown(report: dict[str, Any], names: Sequence[str]) -> str:
    """``report.md`` of an offline evaluation, from :func:`write_report`'s data."""
    timing = report["inference_ms"]
    timing_line = (
        "n/a (recorded predictions)"
        if timing["p50"] is None
        else f"p50 {timing['p50']} ms, p95 {timing['p95']} ms, max {timing['max']} ms"
    )
    return "\n".join([
        f"# Evaluation of {report['bag']}", "",
        f"- {_accuracy_line(report)}",
        f"- frames scored {report['frames']}; unpaired images {report['unpaired_images']}, unpaired labels "
        f"{report['unpaired_labels']}, corrupt messages {report['corrupt_messages']}, frames over the size limits "
        f"skipped {report.get('rejected_frames', 0)}",
        f"- weights: {report['weights'] or 'recorded predictions on ' + str(report['predictions_topic'])}",
        f"- inference: {timing_line}", "",
        *iou_table(names, report["per_class_iou"]), "",
    ])  # fmt: skip


def loss_text(losses: dict[str, int]) -> str:
    """Where the frames went, in path order, as one line (``sent 40: lost before the node 0, dropped 2, ...``)."""
    parts = [f"{key.replace('_', ' ')} {value}" for key, value in losses.items() if key != "sent"]
    return f"sent {losses['sent']}: " + ", ".join(parts)


def _loss_lines(losses: dict[str, int] | None) -> list[str]:
    if losses is None:
        return ["- where frames went: unknown (no /diagnostics from the node)"]
    return [f"- where frames went: {loss_text(losses)}"]


def replay_markdown(report: dict[str, Any], names: Sequence[str]) -> str:
    """``report.md`` of a replay through the live node, from the replay's report data."""
    replay = report["replay"]
    latency = replay["latency_ms"]
    lines = [
        f"# Replay of {report['bag']}", "",
        f"- mode: {replay['mode']}; node output {report['labels_topic']}",
        f"- frames sent {replay['frames_sent']}, outputs received {replay['outputs_received']}, lost "
        f"{replay['frames_lost']} (the node's own drop counter: {replay['dropped_by_node']}, rejected: "
        f"{replay['rejected_by_node']}); corrupt bag messages skipped: {report['corrupt_messages']}",
        *_loss_lines(replay.get("losses")),
        f"- input {replay['input_hz']} Hz, output **{replay['output_hz']} Hz**",
        f"- publish-to-labels latency p50 **{latency['p50']} ms**, p95 {latency['p95']} ms, max {latency['max']} ms"
        f" (node inference p50 {replay['node_inference_p50_ms']} ms)",
    ]  # fmt: skip
    if report["has_ground_truth"] and report["frames"]:
        lines += [
            f"- accuracy of the node's output on {report['frames']} frames: {_accuracy_line(report)}", "",
            *iou_table(names, report["per_class_iou"]),
        ]  # fmt: skip
    elif report["has_ground_truth"]:
        lines.append("- accuracy: no output could be paired with a ground-truth label")
    else:
        lines.append(f"- accuracy: the bag has no {report['label_topic']} topic, so none is reported")
    return "\n".join([*lines, ""])
