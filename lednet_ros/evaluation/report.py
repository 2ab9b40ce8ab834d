"""Report files a person opens: Markdown tables, JSON, and the matplotlib set-up for PNG figures."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["iou_table", "pyplot", "write_results"]


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
