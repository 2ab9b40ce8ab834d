"""The engine's pixel rules: the size the network sees, how images get there, how scores come back.

What a test reference must compute:

1. the image, as float RGB in [0, 1], is resized to the model size with
   bilinear interpolation (``align_corners=False``), antialiased along each
   axis that shrinks (as PIL's resize, which the authors trained with, does),
   and normalised with the checkpoint's mean/std, if any;
2. the network's 1/8-resolution class scores are upsampled bilinearly
   (``align_corners=True``) straight to the image's size;
3. the label is the argmax; an output channel marked void in the checkpoint
   becomes the ignore id (255); confidence is the softmax maximum x 255.

Step 1 is :func:`resize`, steps 2 and 3 (but the void channel, a look-up)
:func:`classify_scores`; the engine, its CUDA graphs and the exported ONNX
head all run these same functions.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)

from lednet_ros.errors import ImageEncodingError

__all__ = [
    "CHANNEL_INDEX",
    "MAX_ASPECT",
    "ChannelOrder",
    "check_image",
    "classify_scores",
    "model_input_size",
    "resize",
    "resize_uint8",
    "upload",
]

MAX_ASPECT = 4
"""With ``keep_aspect``, the model height is at most this many times its width."""

ChannelOrder = Literal["rgb", "bgr"]

CHANNEL_INDEX = {"rgb": (0, 1, 2), "bgr": (2, 1, 0)}
"""The channels to gather, in this order, to get RGB from an image of each order."""


def model_input_size(image_size: tuple[int, int], model_size: tuple[int, int], *, keep_aspect: bool) -> tuple[int, int]:
    """(width, height) the network sees for an image of ``image_size`` (width, height).

    With ``keep_aspect`` the model width is kept and the height follows the
    image's aspect ratio, rounded to a multiple of 8 (a 1920x1080 camera at
    model width 1024 runs at 1024x576 instead of being squashed to 1024x512).
    The height is capped at ``MAX_ASPECT`` times the width, so a degenerate
    image cannot ask for a gigantic tensor.
    """
    if not keep_aspect:
        return model_size
    width, height = image_size
    model_width = model_size[0]
    model_height = round(model_width * height / width / 8) * 8
    return (model_width, min(max(8, model_height), MAX_ASPECT * model_width))


def upload(image: np.ndarray, order: ChannelOrder, device: torch.device) -> torch.Tensor:
    """Host uint8 HxWx3 or HxW array -> ``device`` uint8 tensor, 1x3xHxW in RGB order (mono repeated)."""
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:  # e.g. np.frombuffer over a ROS message; torch refuses to share those
        array = array.copy()
    tensor = torch.from_numpy(array).to(device, non_blocking=True)
    if tensor.ndim == 2:
        return tensor.view(1, 1, *tensor.shape).expand(1, 3, -1, -1)
    tensor = tensor.permute(2, 0, 1).unsqueeze(0)
    return tensor.flip(1) if order == "bgr" else tensor


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Float NCHW image to (width, height): bilinear, antialiased when shrinking (the engine's one resize rule)."""
    if (x.shape[-1], x.shape[-2]) == size:
        return x
    shrinks = size[0] < x.shape[-1] or size[1] < x.shape[-2]
    return F.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False, antialias=shrinks)


def resize_uint8(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 NCHW image resized exactly as the model input is, back to uint8 (for overlays at the model size)."""
    if (rgb.shape[-1], rgb.shape[-2]) == size:
        return rgb
    return resize(rgb.float(), size).round_().clamp_(0, 255).to(torch.uint8)


def classify_scores(
    coarse: torch.Tensor, size: tuple[int, int], confidence: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores (N x C x h x w) -> argmax channel (N x H x W, int64) and confidence x 255 (uint8) at ``size``.

    The one definition of these steps: the engine runs it in PyTorch (and a
    CUDA graph captures it), and :func:`~lednet_ros.inference.onnx_export.export_head_onnx`
    exports it. The scores are upsampled in fp32 (fp16 scores from the
    network): fp16 interpolation would add ties and flips.
    """
    logits = F.interpolate(coarse.float(), size=size, mode="bilinear", align_corners=True)
    best, channel = logits.max(dim=1)
    if not confidence:
        return channel, None
    denominator = torch.exp(logits - best.unsqueeze(1)).sum(dim=1)  # max softmax = 1 / sum(exp(l - max))
    return channel, (255.0 / denominator).round_().to(torch.uint8)


def check_image(image: np.ndarray) -> None:
    """Refuse what is not a non-empty uint8 HxW or HxWx3 array, naming the reason.

    Raises:
        ImageEncodingError: the first thing wrong with ``image``.
    """
    if not isinstance(image, np.ndarray):
        msg = f"expected a NumPy array, got {type(image).__name__}"
        raise ImageEncodingError(msg)
    if image.dtype != np.uint8:
        msg = f"expected a uint8 image, got {image.dtype}"
        raise ImageEncodingError(msg)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        msg = f"expected an HxW or HxWx3 image, got shape {image.shape}"
        raise ImageEncodingError(msg)
    if image.shape[0] == 0 or image.shape[1] == 0:
        msg = f"empty image of shape {image.shape}"
        raise ImageEncodingError(msg)
