"""State-dict layouts published by others, renamed to this project's keys.

Pure key remapping, no file access:

* what the authors' ``train/main.py`` saves (``train/lednet.py``'s names):
  keys may carry DataParallel's ``module.`` prefix; 20 output channels, the
  last a void class; their unused ``encoder.output_conv`` is dropped;
* a ``pytorchcv`` LEDNet state dict (right halves not mirrored);
* this project's own bare state dict (no metadata around it).

:func:`find_layout` tells them apart by key prefixes only one of them has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lednet_ros.errors import CheckpointError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from torch import Tensor

__all__ = [
    "AUTHORS_VOID_CLASS",
    "FOREIGN_LAYOUTS",
    "ForeignLayout",
    "find_layout",
    "remap_authors_state_dict",
    "remap_pytorchcv_state_dict",
    "strip_wrappers",
]

AUTHORS_VOID_CLASS = 19
"""The authors always build 20 outputs; channel 19 is Cityscapes' void (loss weight 0)."""

# Authors' encoder.layers index -> (stage, module) in LEDNetEncoder.
_AUTHORS_LAYERS: dict[int, str] = {
    0: "stage1.unit1", 1: "stage1.unit2", 2: "stage1.unit3",
    3: "stage2.down", 4: "stage2.unit1", 5: "stage2.unit2",
    6: "stage3.down",
    **{7 + i: f"stage3.unit{i + 1}" for i in range(8)},
}  # fmt: skip

# Authors' SS_nbt_module attribute -> FactorizedBranch attribute. Their right
# half is mirrored: its first conv of each pair is the 1x3.
_AUTHORS_SS_NBT: dict[str, str] = {
    "conv3x1_1_l": "left.conv1a", "conv1x3_1_l": "left.conv1b", "bn1_l": "left.bn1",
    "conv3x1_2_l": "left.conv2a", "conv1x3_2_l": "left.conv2b", "bn2_l": "left.bn2",
    "conv1x3_1_r": "right.conv1a", "conv3x1_1_r": "right.conv1b", "bn1_r": "right.bn1",
    "conv1x3_2_r": "right.conv2a", "conv3x1_2_r": "right.conv2b", "bn2_r": "right.bn2",
}  # fmt: skip

_AUTHORS_APN: dict[str, str] = {
    "branch1.1.conv": "pool_branch",
    "mid.0.conv": "middle",
    "down1.conv": "down1",
    "down2.conv": "down2",
    "down3.0.conv": "down3.0",
    "down3.1.conv": "down3.1",
    "conv2.conv": "skip2",
    "conv1.conv": "skip1",
}
_SEQ_CONV_BN = {"0": "conv", "1": "bn"}


def strip_wrappers(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Drop DataParallel/DDP ``module.`` and torch.compile ``_orig_mod.`` prefixes."""
    out = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            key = key.removeprefix(prefix)  # noqa: PLW2901 (normalising the key is the point)
        out[key] = value
    return out


def remap_authors_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename the authors' ``train/lednet.py`` keys to this project's.

    Raises:
        CheckpointError: a key that is not part of their network.
    """
    out: dict[str, Tensor] = {}
    for key, value in strip_wrappers(state_dict).items():
        if key.startswith("encoder.output_conv."):
            continue  # encoder-only training head; unused by the full network
        if m := re.fullmatch(r"encoder\.initial_block\.(conv|bn)\.(\w+)", key):
            out[f"encoder.stage1.down.{m[1]}.{m[2]}"] = value
        elif (m := re.fullmatch(r"encoder\.layers\.(\d+)\.(\w+)\.(\w+)", key)) and int(m[1]) in _AUTHORS_LAYERS:
            target = _AUTHORS_LAYERS[int(m[1])]
            sub = m[2] if target.endswith("down") else _AUTHORS_SS_NBT.get(m[2])
            if sub is None or (target.endswith("down") and sub not in {"conv", "bn"}):
                msg = f"unknown key {key!r} in the authors' layout"
                raise CheckpointError(msg)
            out[f"encoder.{target}.{sub}.{m[3]}"] = value
        elif m := re.fullmatch(r"decoder\.apn\.(.+)\.([01])\.(\w+)", key):
            if m[1] not in _AUTHORS_APN:
                msg = f"unknown key {key!r} in the authors' layout"
                raise CheckpointError(msg)
            out[f"decoder.{_AUTHORS_APN[m[1]]}.{_SEQ_CONV_BN[m[2]]}.{m[3]}"] = value
        else:
            msg = f"unknown key {key!r} in the authors' layout"
            raise CheckpointError(msg)
    return out


_PYTORCHCV_APN: dict[str, str] = {
    "pool_branch.conv": "pool_branch",
    "body": "middle",
    "hg.down_seq.down1": "down1",
    "hg.down_seq.down2": "down2",
    "hg.down_seq.down3.conv1": "down3.0",
    "hg.down_seq.down3.conv2": "down3.1",
    "hg.skip_seq.skip2": "skip1",  # 7x7 on the finest pyramid level
    "hg.skip_seq.skip3": "skip2",  # 5x5 on the middle level
}


def remap_pytorchcv_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename ``pytorchcv``'s LEDNet keys to this project's.

    Raises:
        CheckpointError: a key that is not part of that network.
    """
    out: dict[str, Tensor] = {}
    for key, value in strip_wrappers(state_dict).items():
        if m := re.fullmatch(r"encoder\.(stage\d)\.unit1\.(conv|norm_activ\.bn)\.(\w+)", key):
            out[f"encoder.{m[1]}.down.{m[2].removeprefix('norm_activ.')}.{m[3]}"] = value
        elif m := re.fullmatch(
            r"encoder\.(stage\d)\.unit(\d+)\.(left|right)_branch\.conv([12])\.(lw_conv\.conv|rw_conv\.conv|rw_conv\.bn)\.(\w+)",
            key,
        ):
            unit = int(m[2]) - 1  # their unit1 is the downsampler
            part = {"lw_conv.conv": f"conv{m[4]}a", "rw_conv.conv": f"conv{m[4]}b", "rw_conv.bn": f"bn{m[4]}"}[m[5]]
            out[f"encoder.{m[1]}.unit{unit}.{m[3]}.{part}.{m[6]}"] = value
        elif (m := re.fullmatch(r"apn\.(.+)\.(conv|bn)\.(\w+)", key)) and m[1] in _PYTORCHCV_APN:
            out[f"decoder.{_PYTORCHCV_APN[m[1]]}.{m[2]}.{m[3]}"] = value
        else:
            msg = f"unknown key {key!r} in the pytorchcv layout"
            raise CheckpointError(msg)
    return out


def _remap_project_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return strip_wrappers(state_dict)


def _right_half_mirrored(state_dict: Mapping[str, Tensor]) -> bool:
    first = state_dict.get("encoder.stage1.unit1.right.conv1a.weight")
    return first is None or tuple(first.shape[-2:]) == (1, 3)


@dataclass(frozen=True)
class ForeignLayout:
    """A state-dict layout without our metadata: how to spot it, rename it, describe it."""

    source: str
    markers: tuple[str, ...]  # key prefixes only this layout has
    remap: Callable[[Mapping[str, Tensor]], dict[str, Tensor]]
    mirrored_right: Callable[[Mapping[str, Tensor]], bool]
    name_tag: str
    provenance: str


FOREIGN_LAYOUTS = (
    ForeignLayout(
        "authors", ("encoder.initial_block.", "decoder.apn."), remap_authors_state_dict,
        lambda _: True, "authors_", "authors' train/main.py (xiaoyufenfei/LEDNet)",
    ),
    ForeignLayout(
        "lednet_ros", ("encoder.stage1.down.",), _remap_project_state_dict,
        _right_half_mirrored, "", "bare lednet_ros state dict",
    ),
    ForeignLayout(
        "pytorchcv", ("apn.", "encoder.stage1.unit1.conv.", "encoder.stage1.unit1.norm_activ."),
        remap_pytorchcv_state_dict, lambda _: False, "pytorchcv_", "pytorchcv lednet_cityscapes",
    ),
)  # fmt: skip
"""Checked in order; our own bare layout before pytorchcv's (both have ``encoder.stage1.unit1.``)."""


def find_layout(state_dict: Mapping[str, Any]) -> ForeignLayout | None:
    """The first of :data:`FOREIGN_LAYOUTS` with a marker among the keys (wrapper prefixes stripped), or None."""
    keys = strip_wrappers(state_dict)
    return next((lay for lay in FOREIGN_LAYOUTS if any(k.startswith(lay.markers) for k in keys)), None)
