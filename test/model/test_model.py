from __future__ import annotations

import pytest
import torch
from conftest import randomize_batchnorm

from lednet_ros.model.network import (
    BN_EPS,
    ENCODER_STAGES,
    DownsamplerBlock,
    FactorizedBranch,
    LEDNet,
    SplitShuffleBlock,
    channel_shuffle_nhwc,
    count_parameters,
    fold_batchnorm,
    lednet,
)


def test_lednet_19_classes_has_exactly_922821_parameters() -> None:
    assert count_parameters(LEDNet(19)) == 922_821
    assert count_parameters(LEDNet(19, mirrored_right=False)) == 922_821


def test_parameter_count_grows_by_two_1x1_heads_per_extra_class() -> None:
    # pool branch and middle branch: 128 weights + bias + BN weight + BN bias each
    assert count_parameters(LEDNet(20)) - count_parameters(LEDNet(19)) == 2 * (128 + 1 + 2)


def test_encoder_follows_the_authors_stages() -> None:
    encoder = LEDNet().encoder
    assert [s.channels for s in ENCODER_STAGES] == [32, 64, 128]
    assert [s.dilations for s in ENCODER_STAGES] == [(1, 1, 1), (1, 1), (1, 2, 5, 9, 2, 5, 9, 17)]
    units = [m for m in encoder.modules() if isinstance(m, SplitShuffleBlock)]
    assert len(units) == 13
    assert [u.left.dropout.p for u in units] == [0.03] * 5 + [0.3] * 8
    assert [u.left.conv2a.dilation[0] for u in units[5:]] == [1, 2, 5, 9, 2, 5, 9, 17]
    assert len([m for m in encoder.modules() if isinstance(m, DownsamplerBlock)]) == 3


def test_every_conv_has_a_bias_and_every_batchnorm_eps_1e_3() -> None:
    model = LEDNet()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert convs and all(c.bias is not None for c in convs)
    assert norms and all(n.eps == BN_EPS == 1e-3 for n in norms)


def test_right_half_is_mirrored_by_default_and_not_in_pytorchcv_variant() -> None:
    mirrored = LEDNet().encoder.stage1.unit1
    plain = LEDNet(mirrored_right=False).encoder.stage1.unit1
    assert mirrored.left.conv1a.kernel_size == (3, 1)
    assert mirrored.right.conv1a.kernel_size == (1, 3)
    assert mirrored.right.conv2b.kernel_size == (3, 1)
    assert plain.right.conv1a.kernel_size == (3, 1)


@pytest.mark.parametrize(("height", "width"), [(512, 1024), (1080, 1920), (480, 640), (37, 53), (8, 8), (9, 31)])
def test_output_has_input_size_for_any_input(height: int, width: int) -> None:
    model = LEDNet().eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, height, width))
    assert out.shape == (1, 19, height, width)
    assert torch.isfinite(out).all()


def test_output_size_argument_upsamples_to_another_size() -> None:
    model = LEDNet().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 128), output_size=(100, 30))
    assert out.shape == (2, 19, 100, 30)


def test_logits_are_non_negative_because_heads_end_in_relu() -> None:
    model = randomize_batchnorm(LEDNet(), 3).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 96))
    assert out.min() >= 0


@pytest.mark.parametrize(("height", "width"), [(64, 128), (45, 77)])
def test_folded_batchnorm_matches_unfolded_network(height: int, width: int) -> None:
    model = randomize_batchnorm(LEDNet().double(), 7).eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "original must be untouched"
    x = torch.rand(2, 3, height, width, dtype=torch.float64)
    with torch.no_grad():
        expected, actual = model(x), folded(x)
    assert torch.allclose(actual, expected, rtol=0, atol=1e-10)


def test_folding_handles_negative_batchnorm_scales_on_pooled_channels() -> None:
    block = DownsamplerBlock(3, 16).double().eval()
    with torch.no_grad():
        block.bn.weight.uniform_(-1.5, -0.5)  # negative scale: affine must come after the max-pool
        block.bn.running_mean.uniform_(-0.5, 0.5)
    folded = fold_batchnorm(torch.nn.Sequential(block))  # type: ignore[arg-type]
    x = torch.randn(1, 3, 11, 13, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(folded(x), block(x), atol=1e-12)


def test_channels_last_gives_the_same_result() -> None:
    model = fold_batchnorm(randomize_batchnorm(LEDNet(), 5))
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected = model(x)
        actual = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    # float32 with another summation order: equal to a few ulps of the largest logit
    assert (actual - expected).abs().max() <= 5e-5 * expected.abs().max()


def test_channels_last_shuffle_equals_the_native_op_and_keeps_the_layout() -> None:
    x = torch.rand(2, 8, 5, 7).contiguous(memory_format=torch.channels_last)
    shuffled = channel_shuffle_nhwc(x, 2)
    assert torch.equal(shuffled, torch.nn.functional.channel_shuffle(x.contiguous(), 2))
    assert shuffled.is_contiguous(memory_format=torch.channels_last)
    assert shuffled[0, 1, 0, 0] == x[0, 4, 0, 0]  # group 2's first channel lands second


def test_factorized_branch_order() -> None:
    branch = FactorizedBranch(8, dilation=5, dropout=0.0, vertical_first=False)
    assert branch.conv1a.kernel_size == (1, 3)
    assert branch.conv2a.dilation == (1, 5)
    assert branch.conv2a.padding == (0, 5)
    assert branch.conv2b.dilation == (5, 1)


def test_training_step_reaches_every_parameter() -> None:
    model = LEDNet(5).train()
    out = model(torch.rand(2, 3, 64, 64))
    torch.nn.functional.cross_entropy(out, torch.randint(0, 5, (2, 64, 64))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_builder_rejects_a_num_classes_that_conflicts_with_weights(checkpoint) -> None:
    assert lednet(weights=checkpoint).num_classes == 19
    with pytest.raises(ValueError, match="num_classes=7 conflicts"):
        lednet(weights=checkpoint, num_classes=7)
    with pytest.raises(ValueError, match="mirrored_right"):
        lednet(weights=checkpoint, mirrored_right=False)


def test_invalid_shapes_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="must add channels"):
        DownsamplerBlock(32, 32)
    with pytest.raises(ValueError, match="even channel count"):
        SplitShuffleBlock(7, 1, 0.0)
    with pytest.raises(ValueError, match="positive"):
        LEDNet(0)


def test_pytorchcv_replica_gives_identical_outputs(tmp_path) -> None:
    """pytorchcv's LEDNet equals LEDNet(mirrored_right=False) loaded from its state dict."""
    from pytorchcv.models.lednet import lednet_cityscapes  # a pinned test dependency: a missing one must fail

    from lednet_ros.model.checkpoint import load_checkpoint

    reference = randomize_batchnorm(lednet_cityscapes(), 11).eval()
    torch.save(reference.state_dict(), tmp_path / "pytorchcv.pth")
    checkpoint = load_checkpoint(tmp_path / "pytorchcv.pth")
    assert checkpoint.source_format == "pytorchcv"
    assert checkpoint.meta.mirrored_right is False
    ours = checkpoint.build_model().double()
    reference = reference.double()
    for height, width in [(512, 1024), (256, 512)]:
        x = torch.rand(1, 3, height, width, dtype=torch.float64)
        with torch.no_grad():
            expected = reference(x)
            error = (ours(x) - expected).abs().max().item()
        print(
            f"pytorchcv equivalence at {width}x{height}: max abs difference {error:.3g} (max |logit| {expected.abs().max():.3g})"
        )
        assert error < 1e-10, f"{width}x{height}: max abs difference {error}"
