"""The N hardest frames of a fleet, kept in bounded memory and found in the single labelling pass.

A frame's doubt is ``1 - mean confidence``: the mean over its pixels of one
minus the softmax probability of the chosen class. Each unit keeps its own N
hardest in a heap (N encoded frames at most) and leaves them as candidate
files; the command keeps the fleet's N hardest of those in another heap of
N small records, and at the end exports the winners: the image, the
predicted train ids as a pre-annotation, and a manifest for a labelling tool.
"""

from __future__ import annotations

import csv
import heapq
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CANDIDATES", "Hardest", "doubt"]

CANDIDATES = "candidates"
"""Folder under ``OUT/hardest`` where units leave their hardest frames until the fleet's are chosen."""


def doubt(confidence: np.ndarray) -> float:
    """How unsure the model is of a frame: 1 - the mean confidence (confidence is the probability x 255)."""
    return round(1.0 - float(np.mean(confidence, dtype=np.float64)) / 255.0, 6)


@dataclass
class Hardest:
    """The ``limit`` records with the highest ``score`` offered so far (ties: the first offered stays)."""

    limit: int
    _heap: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    _offered: int = 0

    def offer(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Keep ``record`` if it is among the hardest; returns the record it pushed out (or ``record`` itself)."""
        self._offered += 1
        entry = (float(record["score"]), -self._offered, record)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
            return None
        if entry[:2] <= self._heap[0][:2]:
            return record
        return heapq.heapreplace(self._heap, entry)[2]

    def records(self) -> list[dict[str, Any]]:
        """The kept records, hardest first."""
        return [record for _, _, record in sorted(self._heap, key=lambda e: e[:2], reverse=True)]


def export(hardest: Hardest, folder: Path) -> list[dict[str, Any]]:
    """Copy the winners' candidate files to ``folder/images`` and ``folder/labels``; write the manifest.

    Returns the manifest's rows (bag, topic, stamp, score, image, labels), hardest first.
    """
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    rows = []
    for rank, record in enumerate(hardest.records()):
        stem = f"{rank:05d}_{Path(record['bag']).name}_{record['topic'].strip('/').replace('/', '_')}_{record['stamp']}"
        image, labels = folder / "images" / f"{stem}.png", folder / "labels" / f"{stem}_labelTrainIds.png"
        shutil.copyfile(record["image"], image)
        shutil.copyfile(record["labels"], labels)
        rows.append({**{k: record[k] for k in ("bag", "topic", "stamp", "score")},
                     "image": str(image.relative_to(folder)), "labels": str(labels.relative_to(folder))})  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=["bag", "topic", "stamp", "score", "image", "labels"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
