"""What the paper fixes and the rest of the package assumes, without importing torch.

Light on purpose: ``inference.options`` (read by every ``--help``) takes its
default model size from here.
"""

from __future__ import annotations

__all__ = ["PAPER_INPUT_SIZE"]

PAPER_INPUT_SIZE = (1024, 512)
"""(width, height) the authors trained and evaluated at on Cityscapes (half resolution)."""
