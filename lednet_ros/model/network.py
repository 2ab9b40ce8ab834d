"""LEDNet (Wang et al., 2019) as in the authors' released training graph.

The network is an encoder of split-shuffle non-bottleneck (SS-nbt) units and an
attention pyramid network (APN) decoder. The reference is the authors'
``train/lednet.py``, not the paper's figure; where the two disagree we follow
the code, because that is what produced the published numbers:

* every convolution has a bias and every BatchNorm uses ``eps=1e-3``;
* the right half of an SS-nbt unit is the mirror of the left (1x3 first);
* the decoder's middle and pooling branches end in BN + ReLU, so the logits
  are non-negative;
* all upsampling is bilinear with ``align_corners=True``.

One deliberate difference: the authors upsample to fixed sizes (``h // 4``,
``h // 2`` and always 512x1024 at the end), which only works for 1024x512
input. Here every upsampling goes to the size of the tensor it is added to,
and the output to the input's size. Wherever their code runs, the two agree.

``LEDNet(mirrored_right=False)`` is the variant of the ``pytorchcv`` replica
(3x1 first in both halves); checkpoints record which one they hold.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lednet_ros.model.weights import Checkpoint

__all__ = [
    "BN_EPS",
    "DEFAULT_NUM_CLASSES",
    "ENCODER_STAGES",
    "AttentionPyramid",
    "ConvBnReLU",
    "DownsamplerBlock",
    "EncoderStageSpec",
    "FactorizedBranch",
    "LEDNet",
    "LEDNetEncoder",
    "SplitShuffleBlock",
    "channel_shuffle_nhwc",
    "count_parameters",
    "fold_batchnorm",
    "lednet",
]

BN_EPS = 1e-3
"""BatchNorm epsilon used throughout the authors' code (PyTorch's default is 1e-5)."""

DEFAULT_NUM_CLASSES = 19
"""Cityscapes train classes."""


@dataclass(frozen=True)
class EncoderStageSpec:
    """One encoder stage: a downsampler to ``channels``, then one SS-nbt unit per dilation."""

    channels: int
    dilations: tuple[int, ...]
    dropout: float


ENCODER_STAGES: tuple[EncoderStageSpec, ...] = (
    EncoderStageSpec(32, (1, 1, 1), 0.03),
    EncoderStageSpec(64, (1, 1), 0.03),
    EncoderStageSpec(128, (1, 2, 5, 9, 2, 5, 9, 17), 0.3),
)
"""The authors' encoder: 1/2 resolution x3 units, 1/4 x2, 1/8 x8 dilated."""


def _upsample(x: Tensor, size: Sequence[int]) -> Tensor:
    return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=True)


def _channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channel groups (ShuffleNet's shuffle), keeping the memory layout.

    On the CPU the native op keeps channels_last. Elsewhere PyTorch's generic
    version returns a contiguous NCHW copy, which would cost a layout
    conversion in every unit, so a channels_last tensor is shuffled as NHWC.
    ONNX has no channel_shuffle operator, so export traces the reshape form.
    """
    n, c, h, w = x.shape
    if torch.onnx.is_in_onnx_export():
        return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
    if x.device.type == "cpu" or not x.is_contiguous(memory_format=torch.channels_last):
        return F.channel_shuffle(x, groups)
    return channel_shuffle_nhwc(x, groups)


def channel_shuffle_nhwc(x: Tensor, groups: int) -> Tensor:
    """Channel shuffle of a channels_last tensor that returns channels_last (one copy)."""
    n, c, h, w = x.shape
    nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups).transpose(3, 4).reshape(n, h, w, c)
    return nhwc.permute(0, 3, 1, 2)


class ConvBnReLU(nn.Sequential):
    """Square ``k x k`` convolution (bias, "same" padding), BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=True),
                bn=nn.BatchNorm2d(out_channels, eps=BN_EPS),
                relu=nn.ReLU(inplace=True),
            )
        )

    def fold_batchnorm_(self) -> None:
        """Merge ``bn`` into ``conv`` (eval statistics) and drop it."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv, self.bn)
            self.bn = nn.Identity()


class DownsamplerBlock(nn.Module):
    """Halve the resolution: strided 3x3 conv concatenated with a 2x2 max-pool.

    The conv makes ``out - in`` channels, the pool keeps the ``in`` input
    channels (conv first in the concatenation). For odd sizes the pool output
    is one row/column short of the conv's; it is zero-padded like the
    authors' code (the extra row/column at the bottom/right).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels <= in_channels:
            msg = f"a downsampler must add channels, got {in_channels} -> {out_channels}"
            raise ValueError(msg)
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=True)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=True)
        self.folded = False
        # After folding, the BN of the pooled channels as a per-channel affine.
        self.register_buffer("pool_scale", torch.ones(1, in_channels, 1, 1), persistent=False)
        self.register_buffer("pool_shift", torch.zeros(1, in_channels, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv(x)
        pooled = self.pool(x)
        dh = conv.shape[2] - pooled.shape[2]
        dw = conv.shape[3] - pooled.shape[3]
        if dh != 0 or dw != 0:
            pooled = F.pad(pooled, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        if self.folded:
            return self.relu(torch.cat([conv, pooled * self.pool_scale + self.pool_shift], 1))
        return self.relu(self.bn(torch.cat([conv, pooled], 1)))

    @torch.no_grad()
    def fold_batchnorm_(self) -> None:
        """Merge the BN into the conv (its channels) and a pool-side affine (the rest)."""
        if self.folded:
            return
        bn = self.bn
        assert isinstance(bn, nn.BatchNorm2d)
        conv_channels = self.conv.out_channels
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        conv_bn = nn.BatchNorm2d(conv_channels, eps=bn.eps, device=bn.weight.device, dtype=bn.weight.dtype).eval()
        conv_bn.weight.copy_(bn.weight[:conv_channels])
        conv_bn.bias.copy_(bn.bias[:conv_channels])
        conv_bn.running_mean.copy_(bn.running_mean[:conv_channels])
        conv_bn.running_var.copy_(bn.running_var[:conv_channels])
        self.conv = fuse_conv_bn_eval(self.conv, conv_bn)
        self.pool_scale = scale[conv_channels:].reshape(1, -1, 1, 1).clone()
        self.pool_shift = shift[conv_channels:].reshape(1, -1, 1, 1).clone()
        self.bn = nn.Identity()
        self.folded = True


def _factorized_conv(channels: int, kernel: tuple[int, int], dilation: int) -> nn.Conv2d:
    """A 3x1 or 1x3 conv, dilated along its long axis, "same" padding."""
    dil = (dilation if kernel[0] > 1 else 1, dilation if kernel[1] > 1 else 1)
    pad = (dil[0] * (kernel[0] // 2), dil[1] * (kernel[1] // 2))
    return nn.Conv2d(channels, channels, kernel, stride=1, padding=pad, dilation=dil, bias=True)


class FactorizedBranch(nn.Module):
    """One half of an SS-nbt unit: two factorised 3x3 convolutions.

    ``conv1a -> ReLU -> conv1b -> BN -> ReLU -> conv2a -> ReLU -> conv2b -> BN
    -> Dropout2d``, where the second pair is dilated. ``vertical_first``
    chooses 3x1 before 1x3 (left half) or 1x3 before 3x1 (mirrored right half).
    """

    def __init__(self, channels: int, dilation: int, dropout: float, *, vertical_first: bool = True) -> None:
        super().__init__()
        first, second = ((3, 1), (1, 3)) if vertical_first else ((1, 3), (3, 1))
        self.vertical_first = vertical_first
        self.conv1a = _factorized_conv(channels, first, 1)
        self.conv1b = _factorized_conv(channels, second, 1)
        self.bn1: nn.Module = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.conv2a = _factorized_conv(channels, first, dilation)
        self.conv2b = _factorized_conv(channels, second, dilation)
        self.bn2: nn.Module = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1a(x))
        x = self.relu(self.bn1(self.conv1b(x)))
        x = self.relu(self.conv2a(x))
        x = self.bn2(self.conv2b(x))
        return self.dropout(x)

    def fold_batchnorm_(self) -> None:
        """Merge ``bn1`` into ``conv1b`` and ``bn2`` into ``conv2b``."""
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.conv1b = fuse_conv_bn_eval(self.conv1b, self.bn1)
            self.bn1 = nn.Identity()
        if isinstance(self.bn2, nn.BatchNorm2d):
            self.conv2b = fuse_conv_bn_eval(self.conv2b, self.bn2)
            self.bn2 = nn.Identity()


class SplitShuffleBlock(nn.Module):
    """SS-nbt unit: split channels in halves, two branches, residual add, ReLU, shuffle."""

    def __init__(self, channels: int, dilation: int, dropout: float, *, mirrored_right: bool = True) -> None:
        super().__init__()
        if channels % 2:
            msg = f"an SS-nbt unit needs an even channel count, got {channels}"
            raise ValueError(msg)
        half = channels // 2
        self.left = FactorizedBranch(half, dilation, dropout, vertical_first=True)
        self.right = FactorizedBranch(half, dilation, dropout, vertical_first=not mirrored_right)

    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[1] // 2
        out = torch.cat([self.left(x[:, :half]), self.right(x[:, half:])], 1)
        return _channel_shuffle(torch.relu(out + x), 2)


class LEDNetEncoder(nn.Sequential):
    """Three stages (1/2, 1/4, 1/8 resolution), each a downsampler then SS-nbt units.

    Children are ``stage1..3``; inside a stage, ``down`` and ``unit1..N``.
    The authors' encoder also has an ``output_conv`` used only when training
    the encoder alone; the full network never uses it, so it is not built.
    """

    def __init__(
        self,
        in_channels: int = 3,
        stages: Sequence[EncoderStageSpec] = ENCODER_STAGES,
        *,
        mirrored_right: bool = True,
    ) -> None:
        built: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for index, spec in enumerate(stages, start=1):
            layers: OrderedDict[str, nn.Module] = OrderedDict(down=DownsamplerBlock(channels, spec.channels))
            for unit, dilation in enumerate(spec.dilations, start=1):
                layers[f"unit{unit}"] = SplitShuffleBlock(
                    spec.channels, dilation, spec.dropout, mirrored_right=mirrored_right
                )
            built[f"stage{index}"] = nn.Sequential(layers)
            channels = spec.channels
        super().__init__(built)
        self.out_channels = channels


class AttentionPyramid(nn.Module):
    """The APN decoder: per-class features weighted by a 1-channel attention pyramid.

    ``output = attention * middle(x) + pool_branch(mean(x))`` where the
    attention map comes from a 3-level pyramid (7x7, 5x5, 3x3+3x3 convs, each
    level at half the previous resolution) merged coarse-to-fine.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool_branch = ConvBnReLU(in_channels, num_classes, 1)
        self.middle = ConvBnReLU(in_channels, num_classes, 1)
        self.down1 = ConvBnReLU(in_channels, 1, 7, stride=2)
        self.down2 = ConvBnReLU(1, 1, 5, stride=2)
        self.down3 = nn.Sequential(ConvBnReLU(1, 1, 3, stride=2), ConvBnReLU(1, 1, 3))
        self.skip2 = ConvBnReLU(1, 1, 5)
        self.skip1 = ConvBnReLU(1, 1, 7)

    def forward(self, x: Tensor) -> Tensor:
        # Bilinear upsampling of a 1x1 map (align_corners=True) is a constant
        # map, so broadcasting the pooled branch is exact and saves a tensor.
        pooled = self.pool_branch(F.adaptive_avg_pool2d(x, 1))
        middle = self.middle(x)
        level1 = self.down1(x)
        level2 = self.down2(level1)
        level3 = self.down3(level2)
        attention = _upsample(level3, level2.shape[-2:]) + self.skip2(level2)
        attention = _upsample(attention, level1.shape[-2:]) + self.skip1(level1)
        attention = _upsample(attention, x.shape[-2:])
        return attention * middle + pooled


class LEDNet(nn.Module):
    """LEDNet: SS-nbt encoder + APN decoder, logits at the input's size.

    Args:
        num_classes: output channels. 19 for Cityscapes; the authors' own
            checkpoints have 20 (the last one a void class).
        mirrored_right: right half of each SS-nbt unit applies 1x3 before 3x1
            (the authors' code). ``False`` gives the ``pytorchcv`` replica.
    """

    def __init__(self, num_classes: int = DEFAULT_NUM_CLASSES, *, mirrored_right: bool = True) -> None:
        super().__init__()
        if num_classes < 1:
            msg = f"num_classes must be positive, got {num_classes}"
            raise ValueError(msg)
        self.num_classes = num_classes
        self.mirrored_right = mirrored_right
        self.encoder = LEDNetEncoder(mirrored_right=mirrored_right)
        self.decoder = AttentionPyramid(self.encoder.out_channels, num_classes)

    def coarse_logits(self, x: Tensor) -> Tensor:
        """Class scores at 1/8 of the input resolution (before the final upsampling)."""
        return self.decoder(self.encoder(x))

    def forward(self, x: Tensor, output_size: tuple[int, int] | None = None) -> Tensor:
        """Return ``N x num_classes x H x W`` logits.

        ``output_size`` (height, width) upsamples the logits straight to
        another size, e.g. the camera's when ``x`` was resized for the model;
        by default it is the input's size.
        """
        size = (x.shape[-2], x.shape[-1]) if output_size is None else output_size
        return _upsample(self.coarse_logits(x), size)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def fold_batchnorm(model: LEDNet) -> LEDNet:
    """Return an inference copy of ``model`` with every BatchNorm merged into its conv.

    Uses the BN running statistics, so the copy is for evaluation only (the
    original is left untouched).
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        fold = getattr(module, "fold_batchnorm_", None)
        if fold is not None:
            fold()
    return folded


def _expect_same(name: str, given: object | None, from_weights: object) -> object:
    if given is not None and given != from_weights:
        msg = f"{name}={given!r} conflicts with the weights, which have {name}={from_weights!r}"
        raise ValueError(msg)
    return from_weights


def lednet(
    *,
    weights: Checkpoint | None = None,
    num_classes: int | None = None,
    mirrored_right: bool | None = None,
) -> LEDNet:
    """Build a LEDNet, optionally with a loaded checkpoint's weights.

    With ``weights``, ``num_classes`` and ``mirrored_right`` come from the
    checkpoint; passing a different value raises ``ValueError``.
    """
    if weights is not None:
        num_classes = int(_expect_same("num_classes", num_classes, weights.meta.num_classes))  # type: ignore[call-overload]
        mirrored_right = bool(_expect_same("mirrored_right", mirrored_right, weights.meta.mirrored_right))
    model = LEDNet(
        num_classes=DEFAULT_NUM_CLASSES if num_classes is None else num_classes,
        mirrored_right=True if mirrored_right is None else mirrored_right,
    )
    if weights is not None:
        model.load_state_dict(weights.state_dict)
    return model
