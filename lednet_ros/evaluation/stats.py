"""Percentile summaries of timings, for reports and diagnostics."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["percentile_summary", "percentiles"]


def percentiles(values: Iterable[float]) -> tuple[float, float, float]:
    """(p50, p95, max) of ``values``; NaNs when there are none."""
    array = np.fromiter(values, dtype=np.float64)
    if array.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    return (float(np.percentile(array, 50)), float(np.percentile(array, 95)), float(array.max()))


def percentile_summary(values: Iterable[float], digits: int = 2) -> dict[str, float | None]:
    """``{"p50", "p95", "max"}`` of ``values``, rounded, for JSON reports; None each when there are none."""
    p50, p95, top = percentiles(values)
    return {key: None if np.isnan(v) else round(v, digits) for key, v in (("p50", p50), ("p95", p95), ("max", top))}
