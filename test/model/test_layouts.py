"""The foreign state-dict layouts: each key lands where this project's network expects it."""

from __future__ import annotations

import torch
from authors_reference import authors_state_dict
from conftest import randomized_checkpoint

from lednet_ros.model.layouts import find_layout, remap_authors_state_dict


def test_authors_key_mapping_puts_each_mirrored_conv_in_its_place() -> None:
    sd = authors_state_dict(seed=1)
    mapped = remap_authors_state_dict(sd)
    assert not any(k.startswith("encoder.output_conv") for k in mapped)
    pairs = {
        "encoder.initial_block.conv.weight": "encoder.stage1.down.conv.weight",
        "encoder.layers.0.conv3x1_1_l.weight": "encoder.stage1.unit1.left.conv1a.weight",
        "encoder.layers.0.conv1x3_1_r.weight": "encoder.stage1.unit1.right.conv1a.weight",
        "encoder.layers.3.bn.running_var": "encoder.stage2.down.bn.running_var",
        "encoder.layers.14.conv3x1_2_r.bias": "encoder.stage3.unit8.right.conv2b.bias",
        "decoder.apn.branch1.1.conv.1.weight": "decoder.pool_branch.bn.weight",
        "decoder.apn.conv1.conv.0.weight": "decoder.skip1.conv.weight",
        "decoder.apn.down3.1.conv.0.weight": "decoder.down3.1.conv.weight",
    }
    for theirs, ours in pairs.items():
        assert torch.equal(mapped[ours], sd[theirs]), f"{theirs} -> {ours}"
    assert mapped["encoder.stage3.unit8.right.conv2b.weight"].shape[-2:] == (3, 1)
    assert len(mapped) == len(sd) - 2  # output_conv weight and bias dropped


def test_layouts_are_told_apart_by_their_keys_through_wrapper_prefixes() -> None:
    ours = randomized_checkpoint(2).state_dict
    authors = authors_state_dict(seed=1)
    found = {
        "authors": find_layout({f"module.{k}": v for k, v in authors.items()}),
        "lednet_ros": find_layout({f"_orig_mod.{k}": v for k, v in ours.items()}),
    }
    assert {name: None if layout is None else layout.source for name, layout in found.items()} == {
        "authors": "authors",
        "lednet_ros": "lednet_ros",
    }
    assert find_layout({"fc.weight": torch.zeros(1)}) is None
