"""An independent description of the authors' LEDNet (train/lednet.py), for tests.

Written from the foundation issue's text, not from their code: the key names
and shapes their training script saves, and their forward pass as plain
functional PyTorch, including their fixed-size upsampling (h//4, h//2 and a
final 512x1024), so it only runs at 1024x512 input, like theirs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

# encoder.layers: index -> ("ss", channels, dilation) or ("down", in, out)
LAYERS: list[tuple[str, int, int]] = [
    ("ss", 32, 1), ("ss", 32, 1), ("ss", 32, 1),
    ("down", 32, 64),
    ("ss", 64, 1), ("ss", 64, 1),
    ("down", 64, 128),
    *[("ss", 128, d) for d in (1, 2, 5, 9, 2, 5, 9, 17)],
]  # fmt: skip

SS_CONVS = {  # attribute -> kernel (h, w)
    "conv3x1_1_l": (3, 1), "conv1x3_1_l": (1, 3), "conv3x1_2_l": (3, 1), "conv1x3_2_l": (1, 3),
    "conv3x1_1_r": (3, 1), "conv1x3_1_r": (1, 3), "conv3x1_2_r": (3, 1), "conv1x3_2_r": (1, 3),
}  # fmt: skip
SS_BNS = ("bn1_l", "bn2_l", "bn1_r", "bn2_r")


def _conv(sd: dict[str, Tensor], name: str, cin: int, cout: int, kernel: tuple[int, int], g: torch.Generator) -> None:
    fan_in = cin * kernel[0] * kernel[1]
    sd[f"{name}.weight"] = (torch.rand(cout, cin, *kernel, generator=g) * 2 - 1) * (3.0 / fan_in) ** 0.5
    sd[f"{name}.bias"] = torch.rand(cout, generator=g) * 0.2 - 0.1


def _bn(sd: dict[str, Tensor], name: str, channels: int, g: torch.Generator) -> None:
    sd[f"{name}.weight"] = torch.rand(channels, generator=g) + 0.5
    sd[f"{name}.bias"] = torch.rand(channels, generator=g) * 0.4 - 0.2
    sd[f"{name}.running_mean"] = torch.rand(channels, generator=g) * 0.6 - 0.3
    sd[f"{name}.running_var"] = torch.rand(channels, generator=g) * 1.5 + 0.5
    sd[f"{name}.num_batches_tracked"] = torch.tensor(1000)


def authors_state_dict(num_classes: int = 20, seed: int = 0) -> dict[str, Tensor]:
    """Random weights under the authors' key names (``Net(num_classes)``), no prefix."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Tensor] = {}
    _conv(sd, "encoder.initial_block.conv", 3, 29, (3, 3), g)
    _bn(sd, "encoder.initial_block.bn", 32, g)
    for i, (kind, a, b) in enumerate(LAYERS):
        prefix = f"encoder.layers.{i}"
        if kind == "down":
            _conv(sd, f"{prefix}.conv", a, b - a, (3, 3), g)
            _bn(sd, f"{prefix}.bn", b, g)
        else:
            for name, kernel in SS_CONVS.items():
                _conv(sd, f"{prefix}.{name}", a // 2, a // 2, kernel, g)
            for name in SS_BNS:
                _bn(sd, f"{prefix}.{name}", a // 2, g)
    _conv(sd, "encoder.output_conv", 128, num_classes, (1, 1), g)
    apn = "decoder.apn"
    for name, cin, cout, k in [
        ("branch1.1.conv", 128, 20, 1), ("mid.0.conv", 128, 20, 1), ("down1.conv", 128, 1, 7),
        ("down2.conv", 1, 1, 5), ("down3.0.conv", 1, 1, 3), ("down3.1.conv", 1, 1, 3),
        ("conv2.conv", 1, 1, 5), ("conv1.conv", 1, 1, 7),
    ]:  # fmt: skip
        # their decoder always has 20 outputs (APN_Module(out_ch=20)), whatever num_classes is
        _conv(sd, f"{apn}.{name}.0", cin, cout, (k, k), g)
        _bn(sd, f"{apn}.{name}.1", cout, g)
    return sd


def authors_forward(sd: dict[str, Tensor], x: Tensor) -> Tensor:
    """Their network's output for ``x`` (N x 3 x 512 x 1024), computed functionally."""

    def conv(
        t: Tensor, name: str, stride: int = 1, padding: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1)
    ) -> Tensor:
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], stride, padding, dilation)

    def bn(t: Tensor, name: str) -> Tensor:
        return F.batch_norm(
            t,
            sd[f"{name}.running_mean"],
            sd[f"{name}.running_var"],
            sd[f"{name}.weight"],
            sd[f"{name}.bias"],
            False,
            0.0,
            1e-3,
        )

    def down(t: Tensor, name: str) -> Tensor:
        pooled = F.max_pool2d(t, 2, 2)
        c = conv(t, f"{name}.conv", 2, (1, 1))
        dy, dx = c.shape[2] - pooled.shape[2], c.shape[3] - pooled.shape[3]
        pooled = F.pad(pooled, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return F.relu(bn(torch.cat([c, pooled], 1), f"{name}.bn"))

    def ss(t: Tensor, name: str, d: int) -> Tensor:
        half = round(t.shape[1] * 0.5)
        left, right = t[:, :half], t[:, half:]
        left = F.relu(conv(left, f"{name}.conv3x1_1_l", padding=(1, 0)))
        left = F.relu(bn(conv(left, f"{name}.conv1x3_1_l", padding=(0, 1)), f"{name}.bn1_l"))
        left = F.relu(conv(left, f"{name}.conv3x1_2_l", padding=(d, 0), dilation=(d, 1)))
        left = bn(conv(left, f"{name}.conv1x3_2_l", padding=(0, d), dilation=(1, d)), f"{name}.bn2_l")
        right = F.relu(conv(right, f"{name}.conv1x3_1_r", padding=(0, 1)))
        right = F.relu(bn(conv(right, f"{name}.conv3x1_1_r", padding=(1, 0)), f"{name}.bn1_r"))
        right = F.relu(conv(right, f"{name}.conv1x3_2_r", padding=(0, d), dilation=(1, d)))
        right = bn(conv(right, f"{name}.conv3x1_2_r", padding=(d, 0), dilation=(d, 1)), f"{name}.bn2_r")
        out = F.relu(torch.cat([left, right], 1) + t)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    def cbr(t: Tensor, name: str, stride: int = 1) -> Tensor:
        k = sd[f"{name}.0.weight"].shape[-1]
        return F.relu(bn(conv(t, f"{name}.0", stride, (k // 2, k // 2)), f"{name}.1"))

    def up(t: Tensor, size: tuple[int, int]) -> Tensor:
        return F.interpolate(t, size=size, mode="bilinear", align_corners=True)

    t = down(x, "encoder.initial_block")
    for i, (kind, _, b) in enumerate(LAYERS):
        t = down(t, f"encoder.layers.{i}") if kind == "down" else ss(t, f"encoder.layers.{i}", b)
    h, w = t.shape[2:]
    apn = "decoder.apn"
    b1 = up(cbr(F.adaptive_avg_pool2d(t, 1), f"{apn}.branch1.1.conv"), (h, w))
    mid = cbr(t, f"{apn}.mid.0.conv")
    x1 = cbr(t, f"{apn}.down1.conv", 2)
    x2 = cbr(x1, f"{apn}.down2.conv", 2)
    x3 = cbr(cbr(x2, f"{apn}.down3.0.conv", 2), f"{apn}.down3.1.conv")
    a = up(x3, (h // 4, w // 4)) + cbr(x2, f"{apn}.conv2.conv")
    a = up(a, (h // 2, w // 2)) + cbr(x1, f"{apn}.conv1.conv")
    a = up(a, (h, w))
    return up(a * mid + b1, (512, 1024))
