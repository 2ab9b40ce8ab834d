"""LEDNet weights files: reading and writing them.

The project's checkpoint is a ``torch.save`` dictionary of plain data::

    {"format": "lednet_ros.checkpoint/1", "meta": {...}, "state_dict": {...}}

``meta`` is a :class:`~lednet_ros.model.weights.WeightsSpec`.
:func:`load_checkpoint` also accepts the layouts others publish, unchanged
(the authors', pytorchcv's, a bare state dict of ours; see
:mod:`lednet_ros.model.layouts`), and gives them Cityscapes' classes.

Loading never unpickles code: every file goes through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lednet_ros.errors import CheckpointError
from lednet_ros.model.classes import ClassConfig, load_class_config
from lednet_ros.model.layouts import AUTHORS_VOID_CLASS, find_layout, strip_wrappers
from lednet_ros.model.network import LEDNet
from lednet_ros.model.paper import PAPER_INPUT_SIZE
from lednet_ros.model.weights import Checkpoint, WeightsSpec
from lednet_ros.resources import weights_directory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_WEIGHTS_FILE",
    "default_checkpoint",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "untrained_checkpoint",
]

CHECKPOINT_FORMAT = "lednet_ros.checkpoint/1"
DEFAULT_WEIGHTS_FILE = "lednet_synthetic_v2.pt"
"""The demo weights the package ships in ``weights/`` (trained on synthetic scenes)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_load(path: Path) -> Any:
    if not path.exists():
        msg = f"{path}: weights file not found"
        raise CheckpointError(msg)
    if path.is_dir():
        msg = f"{path}: is a directory, expected a weights file"
        raise CheckpointError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: weights file is empty"
        raise CheckpointError(msg)
    try:
        stream = path.open("rb")
    except OSError as exc:  # permissions, I/O: about the file, not what it holds
        msg = f"{path}: cannot read the weights file: {exc.strerror or exc}"
        raise CheckpointError(msg) from None
    try:
        with stream:
            return torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc).strip()
        lines = text.splitlines()
        code = next((line.strip() for line in lines if "GLOBAL" in line), None)
        if code is not None:
            # torch's weights_only refusal: the pickle references code (a class, a function).
            msg = f"{path}: refused to load: the file references Python code, not only tensors ({code})"
        else:
            first = lines[0].split(". ")[0] if lines else type(exc).__name__
            msg = f"{path}: not a readable PyTorch weights file; truncated or corrupt? ({first})"
        raise CheckpointError(msg) from None


def _check_tensors(path: Path, state_dict: Mapping[str, Any]) -> None:
    for key, value in state_dict.items():
        if not isinstance(key, str):
            msg = f"{path}: tensor names must be strings, found {type(key).__name__} {key!r}"
            raise CheckpointError(msg)
        if not isinstance(value, torch.Tensor):
            msg = f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor"
            raise CheckpointError(msg)
        if value.is_floating_point() and not torch.isfinite(value).all():
            msg = f"{path}: tensor {key!r} holds NaN or infinite values"
            raise CheckpointError(msg)


def _validate_against_model(path: Path, meta: WeightsSpec, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Check names and shapes against the network ``meta`` describes; return float32 tensors."""
    expected = LEDNet(meta.num_classes, mirrored_right=meta.mirrored_right).state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    what = f"LEDNet(num_classes={meta.num_classes}, mirrored_right={meta.mirrored_right})"
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]!r})")
        msg = f"{path}: tensors do not match {what}: {', '.join(parts)}"
        raise CheckpointError(msg)
    out: dict[str, Tensor] = {}
    for key, reference in expected.items():
        value = state_dict.get(key, reference)
        if tuple(value.shape) != tuple(reference.shape):
            msg = f"{path}: tensor {key!r} has shape {tuple(value.shape)} but {what} expects {tuple(reference.shape)}"
            raise CheckpointError(msg)
        out[key] = value.to(reference.dtype)
    return out


def _foreign_meta(path: Path, name: str, num_classes: int, *, mirrored_right: bool, provenance: str) -> WeightsSpec:
    """Metadata for a file that carries none: Cityscapes classes, no normalisation."""
    classes = load_class_config()
    void = AUTHORS_VOID_CLASS if num_classes == classes.num_classes + 1 else None
    return WeightsSpec(
        name=name,
        num_classes=num_classes,
        mirrored_right=mirrored_right,
        classes=classes,
        void_class=void,
        train_size=PAPER_INPUT_SIZE,
        provenance={"source": provenance, "file": path.name},
    )


def _num_classes_of(path: Path, state_dict: Mapping[str, Tensor]) -> int:
    weight = state_dict.get("decoder.middle.conv.weight")
    if weight is None or weight.ndim != 4:
        msg = f"{path}: no decoder output layer ('decoder.middle.conv.weight'); is this an encoder-only checkpoint?"
        raise CheckpointError(msg)
    return int(weight.shape[0])


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load LEDNet weights from the project's format, the authors' or pytorchcv's.

    Raises:
        CheckpointError: missing, empty, truncated or corrupt file; a file with
            pickled code; unknown layout; tensors whose names or shapes do not
            fit the network. The message names the file and the mismatch.
    """
    file = Path(path)
    loaded = _torch_load(file)
    if not isinstance(loaded, dict):
        msg = f"{file}: expected a dictionary of tensors, found a {type(loaded).__name__}"
        raise CheckpointError(msg)
    digest = _sha256(file)

    if loaded.get("format") == CHECKPOINT_FORMAT:
        if not isinstance(loaded.get("meta"), dict) or not isinstance(loaded.get("state_dict"), dict):
            msg = f"{file}: {CHECKPOINT_FORMAT} file without 'meta' and 'state_dict' dictionaries"
            raise CheckpointError(msg)
        meta = WeightsSpec.from_dict(loaded["meta"], source=str(file))
        _check_tensors(file, loaded["state_dict"])
        tensors = _validate_against_model(file, meta, loaded["state_dict"])
        return Checkpoint(meta, tensors, file, "lednet_ros", digest)
    if "format" in loaded and isinstance(loaded["format"], str):
        msg = f"{file}: unsupported checkpoint format {loaded['format']!r} (this version reads {CHECKPOINT_FORMAT!r})"
        raise CheckpointError(msg)

    raw = loaded
    for wrapper in ("state_dict", "model"):
        if isinstance(raw.get(wrapper), dict):
            raw = raw[wrapper]
            break
    _check_tensors(file, raw)
    layout = find_layout(raw)
    if layout is None:
        sample = ", ".join(repr(k) for k in sorted(strip_wrappers(raw))[:3]) or "no keys"
        msg = f"{file}: not a LEDNet checkpoint in a known layout (lednet_ros, authors', pytorchcv); keys: {sample}"
        raise CheckpointError(msg)
    tensors = layout.remap(raw)
    meta = _foreign_meta(
        file,
        f"lednet.{layout.name_tag}{file.name.split('.')[0]}",
        _num_classes_of(file, tensors),
        mirrored_right=layout.mirrored_right(tensors),
        provenance=layout.provenance,
    )
    return Checkpoint(meta, _validate_against_model(file, meta, tensors), file, layout.source, digest)


def save_checkpoint(path: str | os.PathLike[str], model: LEDNet, meta: WeightsSpec) -> Path:
    """Write ``model``'s weights and ``meta`` in the project's format, atomically.

    Tensors are stored as float32 on the CPU; the file is written next to its
    destination and renamed, so a crash never leaves a truncated checkpoint.

    Raises:
        CheckpointError: the model does not match ``meta`` or the file cannot be written.
    """
    file = Path(path)
    if model.num_classes != meta.num_classes or model.mirrored_right != meta.mirrored_right:
        msg = (
            f"{file}: model (num_classes={model.num_classes}, mirrored_right={model.mirrored_right}) "
            f"does not match its metadata (num_classes={meta.num_classes}, mirrored_right={meta.mirrored_right})"
        )
        raise CheckpointError(msg)
    provenance = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta.provenance}
    try:  # plain JSON data only: anything else would make the file unloadable with weights_only=True
        plain_meta = json.loads(json.dumps(replace(meta, provenance=provenance).to_dict(), allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"{file}: checkpoint metadata must be plain JSON data ({exc})"
        raise CheckpointError(msg) from None
    payload = {
        "format": CHECKPOINT_FORMAT,
        "meta": plain_meta,
        "state_dict": {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).clone()
                       for k, v in model.state_dict().items()},
    }  # fmt: skip
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=file.parent, prefix=f".{file.name}.", delete=False) as tmp:
            torch.save(payload, tmp)
        Path(tmp.name).chmod(0o644)  # the temporary file is private (0600); a checkpoint is meant to be shared
        Path(tmp.name).replace(file)
    except OSError as exc:
        msg = f"{file}: cannot write checkpoint ({exc.strerror or exc})"
        raise CheckpointError(msg) from None
    return file


def untrained_checkpoint(
    classes: ClassConfig | None = None, *, seed: int = 0, mirrored_right: bool = True
) -> Checkpoint:
    """Randomly initialised weights (PyTorch's default init, fixed seed), marked untrained."""
    classes = classes or load_class_config()
    with torch.random.fork_rng(devices=[]):  # leave the caller's CPU and CUDA generators alone
        torch.random.default_generator.manual_seed(seed)  # the CPU generator only; CUDA's stay as they are
        model = LEDNet(classes.num_classes, mirrored_right=mirrored_right)
    meta = WeightsSpec(
        name=f"lednet.untrained_seed{seed}",
        num_classes=classes.num_classes,
        mirrored_right=mirrored_right,
        classes=classes,
        trained=False,
        provenance={"source": f"random initialisation, torch.manual_seed({seed})"},
    )
    return Checkpoint(meta, model.state_dict(), None, "untrained", None)


def default_checkpoint() -> Checkpoint:
    """The packaged default: the shipped demo weights; untrained weights where the file is not installed.

    Raises:
        CheckpointError: the shipped file exists but cannot be loaded.
    """
    shipped = weights_directory() / DEFAULT_WEIGHTS_FILE
    if shipped.is_file():
        return load_checkpoint(shipped)
    return untrained_checkpoint()


def load_weights(path: str | os.PathLike[str] | None) -> Checkpoint:
    """The weights file at ``path``, or the packaged default when it is None or empty.

    Raises:
        CheckpointError: the file is missing, unreadable or does not fit the model.
    """
    return load_checkpoint(path) if path else default_checkpoint()
