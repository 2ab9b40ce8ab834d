"""The soak's report: pass criteria, summary, Markdown and the PNG plot.

Imported by ``benchmarks/soak.py`` (which puts this folder and the
repository root on ``sys.path``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from soak_ledger import SoakOutcome, SoakSettings, rss_growth_percent

from lednet_ros.evaluation.report import loss_text, pyplot
from lednet_ros.evaluation.stats import percentiles
from lednet_ros.inference.options import EngineOptions
from lednet_ros.ros.diagnostics import DROPPED, PRECISION, RECEIVED, WEIGHTS, counter, frame_losses

__all__ = ["MAX_GAP_S", "RSS_GROWTH_LIMIT_PERCENT", "build_report", "markdown", "write_png"]

RSS_GROWTH_LIMIT_PERCENT = 2.0
MAX_GAP_S = 1.0


def build_report(settings: SoakSettings, options: EngineOptions, outcome: SoakOutcome) -> dict[str, Any]:
    """The report (config, samples, summary, criteria, passed) of a finished soak."""
    status = outcome.status
    growth_last = rss_growth_percent(outcome.samples, settings.warmup)[2]
    ledger = outcome.ledger
    criteria = [
        {"criterion": "RSS growth after warm-up",
         "value": None if growth_last is None else round(growth_last, 2),
         "unit": "%", "limit": f"< {RSS_GROWTH_LIMIT_PERCENT:g}%",
         "passed": growth_last is not None and growth_last < RSS_GROWTH_LIMIT_PERCENT},
        {"criterion": "max output gap after warm-up", "value": round(ledger.max_gap_s, 3), "unit": " s",
         "limit": f"<= {MAX_GAP_S:g} s", "passed": ledger.outputs_after_warmup > 0 and ledger.max_gap_s <= MAX_GAP_S},
        {"criterion": "outputs whose header matches no sent frame", "value": ledger.unmatched, "unit": "",
         "limit": "0", "passed": ledger.unmatched == 0},
    ]  # fmt: skip
    model_size = options.model_size
    return {
        "config": {
            "duration_s": settings.duration_s,
            "rate_hz": settings.rate_hz,
            "size": f"{settings.size[0]}x{settings.size[1]}",
            "sample_period_s": settings.sample_period_s,
            "warmup_s": settings.warmup,
            "device": outcome.device,
            "precision": status.get(PRECISION),
            "weights": status.get(WEIGHTS),
            "model_size": None if model_size is None else f"{model_size[0]}x{model_size[1]}",
            "backend": options.backend,
            "device_memory_source": outcome.device_source,
        },
        "samples": [asdict(s) for s in outcome.samples],
        "summary": _summary(settings, outcome),
        "criteria": criteria,
        "passed": all(c["passed"] for c in criteria),
    }


def _summary(settings: SoakSettings, outcome: SoakOutcome) -> dict[str, Any]:
    """Totals of the whole run, latency and rate after warm-up, the output gap and the RSS figures."""
    ledger, samples, status = outcome.ledger, outcome.samples, outcome.status
    wall_s = outcome.publish_end - outcome.start
    baseline, growth_max, growth_last = rss_growth_percent(samples, settings.warmup)
    p50, p95, top = percentiles(ledger.latencies_after_warmup)
    measured_s = max(wall_s - settings.warmup, 1e-9)
    losses = frame_losses(ledger.sent, status, ledger.outputs) if RECEIVED in status else None
    return {
        "wall_s": round(wall_s, 2),
        "sent": ledger.sent,
        "outputs": ledger.outputs,
        "outputs_after_warmup": ledger.outputs_after_warmup,
        "output_hz_after_warmup": round(ledger.outputs_after_warmup / measured_s, 2),
        "latency_after_warmup_ms": {"p50": round(p50, 1), "p95": round(p95, 1), "max": round(top, 1)},
        "node_received": counter(status, RECEIVED) if losses else None,
        "node_dropped": losses[DROPPED] if losses else None,
        "lost_before_node": losses["lost_before_node"] if losses else None,
        "losses": losses,
        "unmatched_outputs": ledger.unmatched,
        "unmatched_examples": ledger.unmatched_examples,
        "out_of_order_outputs": ledger.out_of_order,
        "max_gap_s": round(ledger.max_gap_s, 3),
        "max_gap_ended_at_s": None if ledger.max_gap_end is None else round(ledger.max_gap_end - outcome.start, 2),
        "rss_start_mib": samples[0].rss_mib if samples else None,
        "rss_baseline_mib": baseline,
        "rss_highest_after_warmup_mib": None if baseline is None else round(baseline * (1 + growth_max / 100), 1),
        "rss_last_mib": samples[-1].rss_mib if samples else None,
        "rss_end_mib": None if baseline is None else round(baseline * (1 + growth_last / 100), 1),
        "rss_max_reading_mib": max((s.rss_max_mib for s in samples), default=None),
        "rss_growth_max_percent": None if growth_max is None else round(growth_max, 2),
        "rss_growth_last_percent": None if growth_last is None else round(growth_last, 2),
    }


def _figure(value: float | None, fmt: str = ".1f") -> str:
    return "n/a" if value is None else format(value, fmt)


def markdown(report: dict[str, Any]) -> str:
    """Samples, summary and pass criteria as Markdown."""
    c = report["config"]
    lines = [
        f"Soak of segmentation_node: {c['size']} bgr8 at {c['rate_hz']:g} Hz for {c['duration_s']:g} s "
        f"(warm-up {c['warmup_s']:g} s), device {c['device']} ({c['precision']}), model {c['model_size'] or 'default'}, "
        f"backend {c['backend']}; device memory: {c['device_memory_source']}.",
        "",
        "RSS: the median (min-max) of the node's RSS, read at every frame of the period ending at t.",
        "",
        "| t s | RSS MiB | (min-max) | device MiB | node CPU % | client CPU % | output Hz | latency p95 ms "
        "| sent | node dropped so far |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['t_s']:.1f}{' (warm-up)' if r['t_s'] < c['warmup_s'] else ''} | {r['rss_mib']:.1f} | "
        f"{r['rss_min_mib']:.0f}-{r['rss_max_mib']:.0f} | {_figure(r['device_mib'], '.0f')} | {r['node_cpu_percent']:.0f} | "
        f"{r['client_cpu_percent']:.0f} | {r['output_hz']:.2f} | "
        f"{_figure(r['latency_p95_ms'])} | {r['sent']} | {_figure(r['node_dropped'], 'd')} |"
        for r in report["samples"]
    ]
    lines += ["", *_summary_lines(report["summary"]), "", "| criterion | value | limit | result |",
              "| --- | ---: | --- | --- |"]  # fmt: skip
    lines += [
        f"| {k['criterion']} | {_figure(k['value'], 'g')}{k['unit']} | {k['limit']} | {'PASS' if k['passed'] else 'FAIL'} |"
        for k in report["criteria"]
    ]
    lines += ["", f"Overall: {'PASS' if report['passed'] else 'FAIL'}"]
    return "\n".join(lines)


def _summary_lines(s: dict[str, Any]) -> list[str]:
    """The summary as two paragraphs: outputs and frames, then RSS."""
    latency = s["latency_after_warmup_ms"]
    return [
        f"After warm-up: {s['outputs_after_warmup']} outputs, {s['output_hz_after_warmup']:.2f} Hz, latency p50 "
        f"{latency['p50']} ms, p95 {latency['p95']} ms, max {latency['max']} ms. Whole run: {s['sent']} frames sent, "
        f"{s['outputs']} outputs, {_figure(s['node_received'], 'd')} frames reached the node, "
        f"{s['out_of_order_outputs']} outputs out of stamp order. Where the frames went: "
        f"{loss_text(s['losses']) if s['losses'] else 'unknown (no /diagnostics)'}. Longest output gap after warm-up: "
        f"{s['max_gap_s']:.2f} s, ending at t = {_figure(s['max_gap_ended_at_s'])} s.",
        f"RSS (period medians): {_figure(s['rss_start_mib'])} MiB at the start, baseline "
        f"{_figure(s['rss_baseline_mib'])} MiB after warm-up, {_figure(s['rss_end_mib'])} MiB at the end "
        f"(growth {_figure(s['rss_growth_last_percent'], '.2f')}%), highest period "
        f"{_figure(s['rss_highest_after_warmup_mib'])} MiB ({_figure(s['rss_growth_max_percent'], '.2f')}%), last "
        f"{_figure(s['rss_last_mib'])} MiB; "
        f"highest single reading {_figure(s['rss_max_reading_mib'])} MiB.",
    ]


def write_png(report: dict[str, Any], path: Path) -> Path:
    """RSS (and device memory), output rate and latency p95 over time, warm-up shaded."""
    plt = pyplot()
    rows, warmup = report["samples"], report["config"]["warmup_s"]
    t = [r["t_s"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), dpi=100, sharex=True)
    axes[0].fill_between(t, [r["rss_min_mib"] for r in rows], [r["rss_max_mib"] for r in rows], color="tab:blue",
                         alpha=0.15, label="node RSS min-max")  # fmt: skip
    axes[0].plot(t, [r["rss_mib"] for r in rows], ".-", label="node RSS median")
    if report["summary"]["rss_baseline_mib"] is not None:
        limit = report["summary"]["rss_baseline_mib"] * (1 + RSS_GROWTH_LIMIT_PERCENT / 100)
        axes[0].axhline(limit, color="tab:red", linestyle="--", linewidth=0.8, label="baseline + 2%")
    axes[0].set_ylabel("RSS (MiB)")
    if any(r["device_mib"] is not None for r in rows):
        twin = axes[0].twinx()
        twin.plot(t, [r["device_mib"] for r in rows], ".-", color="tab:green", label="device memory")
        twin.set_ylabel("device memory (MiB)")
        twin.legend(loc="lower right")
    axes[0].legend(loc="upper left")
    axes[1].plot(t, [r["output_hz"] for r in rows], ".-", color="tab:orange")
    axes[1].set_ylabel("output (Hz)")
    axes[2].plot(t, [r["latency_p95_ms"] for r in rows], ".-", color="tab:purple")
    axes[2].set_ylabel("latency p95 (ms)")
    axes[2].set_xlabel("time since the first frame (s)")
    for axis in axes:
        axis.axvspan(0, warmup, color="0.9", zorder=0)
        axis.grid(alpha=0.3)
    axes[0].set_title(f"soak: {'PASS' if report['passed'] else 'FAIL'} (grey: warm-up)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
