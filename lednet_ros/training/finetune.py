"""Starting a run from weights trained on another class set, and freezing the encoder for a while.

Fine-tuning to a new class set keeps what does not depend on the classes:
every tensor of the start weights whose name and shape match the new network
(the whole encoder and the decoder's attention pyramid, which has one
channel). The class-dependent layers (the decoder's ``middle`` and
``pool_branch`` convolutions and their BatchNorms) keep the values the new
network was built with, i.e. the model's own initialisation under the run's
seed, as the authors' code initialises a fresh network (PyTorch's defaults).
This is what torchvision's fine-tuning recipes (replace the classifier, keep
the backbone) and mmsegmentation's ``load_from`` (skip mismatched heads) do.

Freezing the encoder for the first iterations lets the fresh class layers
settle before their gradients reach the pretrained features.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lednet_ros.model.network import LEDNet
from lednet_ros.model.weights import Checkpoint

__all__ = ["Transfer", "set_encoder_frozen", "transfer_weights"]


@dataclass(frozen=True)
class Transfer:
    """Which tensors of the start weights a run kept, and which it reset to the model's initialisation."""

    kept: tuple[str, ...]
    reset: tuple[str, ...]
    source_classes: int
    target_classes: int

    def layers(self, names: tuple[str, ...]) -> list[str]:
        """The modules ``names`` belong to (``decoder.middle.conv``), in order, once each."""
        return list(dict.fromkeys(name.rpartition(".")[0] for name in names))

    def summary(self) -> str:
        """One log line: how many tensors were kept, and the reset layers by name."""
        reset = ", ".join(self.layers(self.reset)) or "none"
        return (f"init weights: {self.source_classes} -> {self.target_classes} classes; kept {len(self.kept)} tensors "
                f"(encoder, attention pyramid), reset to the model's initialisation: {reset}")  # fmt: skip


def transfer_weights(model: LEDNet, start: Checkpoint) -> Transfer:
    """Copy into ``model`` every tensor of ``start`` whose name and shape match; the rest stay as built."""
    target = model.state_dict()
    kept = [k for k, v in start.state_dict.items() if k in target and tuple(v.shape) == tuple(target[k].shape)]
    reset = [k for k in target if k not in kept and not k.endswith("num_batches_tracked")]
    model.load_state_dict({**target, **{k: start.state_dict[k] for k in kept}})
    return Transfer(tuple(kept), tuple(reset), start.meta.num_classes, model.num_classes)


def set_encoder_frozen(model: LEDNet, frozen: bool) -> None:
    """Freeze (or release) the encoder: no gradients, and BatchNorm statistics held (eval mode) while frozen.

    Adam skips parameters without a gradient, so neither the weights nor
    their moment estimates move while frozen.
    """
    encoder: nn.Module = model.encoder
    for parameter in encoder.parameters():
        parameter.requires_grad_(not frozen)
        if frozen:
            parameter.grad = None
    encoder.train(not frozen and model.training)
