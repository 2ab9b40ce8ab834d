"""LEDNet weights files: the project's format, and the layouts others publish.

The project's checkpoint is a ``torch.save`` dictionary of plain data::

    {"format": "lednet_ros.checkpoint/1", "meta": {...}, "state_dict": {...}}

``meta`` (see :class:`WeightsSpec`) says what the tensors are: architecture
options, class names and colours, training resolution, normalisation and
provenance, so a weights file is self-describing.

:func:`load_checkpoint` also accepts, unchanged:

* what the authors' ``train/main.py`` saves: a bare state dict, or a
  ``.pth.tar`` dictionary with ``state_dict`` (and optimizer state); keys may
  carry DataParallel's ``module.`` prefix; 20 output channels, the last a void
  class; their unused ``encoder.output_conv`` is dropped;
* a ``pytorchcv`` LEDNet state dict (right halves not mirrored).

Loading never unpickles code: every file goes through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lednet_ros.errors import CheckpointError, ClassConfigError
from lednet_ros.model.classes import ClassConfig, load_class_config
from lednet_ros.model.network import LEDNet, lednet
from lednet_ros.resources import weights_directory

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from torch import Tensor

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_WEIGHTS_FILE",
    "Checkpoint",
    "WeightsSpec",
    "default_checkpoint",
    "load_checkpoint",
    "remap_authors_state_dict",
    "remap_pytorchcv_state_dict",
    "save_checkpoint",
    "untrained_checkpoint",
]

CHECKPOINT_FORMAT = "lednet_ros.checkpoint/1"
DEFAULT_WEIGHTS_FILE = "lednet_synthetic_v1.pt"
"""The demo weights the package ships (trained on synthetic scenes), once trained."""

AUTHORS_VOID_CLASS = 19
"""The authors always build 20 outputs; channel 19 is Cityscapes' void (loss weight 0)."""


@dataclass(frozen=True)
class WeightsSpec:
    """What a set of LEDNet weights is, as stored in a checkpoint's ``meta``.

    Attributes:
        name: ``arch.tag`` name of the weight set, e.g. ``lednet.synthetic_v1``.
        num_classes: output channels of the network.
        mirrored_right: SS-nbt right halves mirrored (authors) or not (pytorchcv).
        classes: names, colours and ignore id of the classes the outputs mean.
        void_class: an output channel meaning "no class", published as the
            ignore id (the authors' 20th channel); ``None`` if there is none.
        train_size: (width, height) the weights were trained at, if known.
        mean: per-channel RGB mean subtracted after scaling to [0, 1], or None.
        std: per-channel RGB std divided by, or None.
        trained: False for randomly initialised weights.
        provenance: free-form plain data: source, recipe, data, metrics, date.
    """

    name: str
    num_classes: int
    mirrored_right: bool
    classes: ClassConfig
    void_class: int | None = None
    train_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    trained: bool = True
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = self.classes.num_classes + (0 if self.void_class is None else 1)
        if self.num_classes != expected:
            void = "" if self.void_class is None else f" plus void channel {self.void_class}"
            msg = (
                f"weights {self.name!r}: {self.num_classes} outputs do not match "
                f"{self.classes.num_classes} classes{void}"
            )
            raise CheckpointError(msg)
        if self.void_class is not None and self.void_class != self.num_classes - 1:
            msg = f"weights {self.name!r}: the void class must be the last output, got {self.void_class}"
            raise CheckpointError(msg)
        if (self.mean is None) != (self.std is None):
            msg = f"weights {self.name!r}: give both mean and std, or neither"
            raise CheckpointError(msg)
        if self.std is not None and any(s <= 0 for s in self.std):
            msg = f"weights {self.name!r}: std must be positive, got {self.std}"
            raise CheckpointError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (str, int, float, bool, list, dict) for ``meta``."""
        return {
            "arch": "lednet",
            "name": self.name,
            "num_classes": self.num_classes,
            "mirrored_right": self.mirrored_right,
            "void_class": self.void_class,
            "classes": self.classes.to_dict(),
            "train_size": None if self.train_size is None else list(self.train_size),
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "trained": self.trained,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> WeightsSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            CheckpointError: a field is missing or malformed.
        """
        try:
            if data.get("arch", "lednet") != "lednet":
                msg = f"{source}: architecture {data['arch']!r} is not 'lednet'"
                raise CheckpointError(msg)
            return cls(
                name=str(data["name"]),
                num_classes=int(data["num_classes"]),
                mirrored_right=bool(data["mirrored_right"]),
                classes=ClassConfig.from_dict(data["classes"], source=f"{source} (meta.classes)"),
                void_class=None if data.get("void_class") is None else int(data["void_class"]),
                train_size=_pair(data.get("train_size")),
                mean=_triple(data.get("mean")),
                std=_triple(data.get("std")),
                trained=bool(data.get("trained", True)),
                provenance=dict(data.get("provenance") or {}),
            )
        except (CheckpointError, ClassConfigError) as exc:
            raise CheckpointError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{source}: invalid checkpoint metadata ({type(exc).__name__}: {exc})"
            raise CheckpointError(msg) from None


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _triple(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if len(value) != 3:
        msg = f"expected 3 values, got {value!r}"
        raise ValueError(msg)
    return (float(value[0]), float(value[1]), float(value[2]))


@dataclass(frozen=True)
class Checkpoint:
    """Weights in this project's layout plus what they are.

    Attributes:
        meta: the :class:`WeightsSpec`.
        state_dict: tensors keyed as :class:`~lednet_ros.model.LEDNet` names them.
        path: file it came from, or None (e.g. untrained weights).
        source_format: ``lednet_ros``, ``authors``, ``pytorchcv`` or ``untrained``.
        sha256: hex digest of the file, or None.
    """

    meta: WeightsSpec
    state_dict: dict[str, Tensor]
    path: Path | None = None
    source_format: str = "lednet_ros"
    sha256: str | None = None

    def build_model(self) -> LEDNet:
        """A LEDNet with these weights, in eval mode."""
        return lednet(weights=self).eval()

    def describe(self) -> str:
        """One line for logs: which weights, from where, trained or not."""
        where = "built in" if self.path is None else str(self.path)
        digest = "" if self.sha256 is None else f", sha256 {self.sha256[:12]}"
        state = "" if self.meta.trained else " UNTRAINED (random initialisation; outputs are meaningless)"
        return f"{self.meta.name} ({self.source_format}, {where}{digest}){state}"


# --- key remapping ---------------------------------------------------------

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


def _strip_wrappers(state_dict: Mapping[str, Any]) -> dict[str, Any]:
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
    for key, value in _strip_wrappers(state_dict).items():
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
    for key, value in _strip_wrappers(state_dict).items():
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
    return _strip_wrappers(state_dict)


def _right_half_mirrored(state_dict: Mapping[str, Tensor]) -> bool:
    first = state_dict.get("encoder.stage1.unit1.right.conv1a.weight")
    return first is None or tuple(first.shape[-2:]) == (1, 3)


@dataclass(frozen=True)
class _ForeignLayout:
    """A state-dict layout without our metadata: how to spot it, rename it, describe it."""

    source: str
    markers: tuple[str, ...]  # key prefixes only this layout has
    remap: Callable[[Mapping[str, Tensor]], dict[str, Tensor]]
    mirrored_right: Callable[[Mapping[str, Tensor]], bool]
    name_tag: str
    provenance: str


_FOREIGN_LAYOUTS = (
    _ForeignLayout(
        "authors", ("encoder.initial_block.", "decoder.apn."), remap_authors_state_dict,
        lambda _: True, "authors_", "authors' train/main.py (xiaoyufenfei/LEDNet)",
    ),
    _ForeignLayout(
        "lednet_ros", ("encoder.stage1.down.",), _remap_project_state_dict,
        _right_half_mirrored, "", "bare lednet_ros state dict",
    ),
    _ForeignLayout(
        "pytorchcv", ("apn.", "encoder.stage1.unit1.conv.", "encoder.stage1.unit1.norm_activ."),
        remap_pytorchcv_state_dict, lambda _: False, "pytorchcv_", "pytorchcv lednet_cityscapes",
    ),
)  # fmt: skip
"""Checked in order; our own bare layout before pytorchcv's (both have ``encoder.stage1.unit1.``)."""


# --- loading ---------------------------------------------------------------


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
        train_size=(1024, 512),
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
    keys = set(_strip_wrappers(raw))
    layout = next((lay for lay in _FOREIGN_LAYOUTS if any(k.startswith(lay.markers) for k in keys)), None)
    if layout is None:
        sample = ", ".join(repr(k) for k in sorted(keys)[:3]) or "no keys"
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
    """The packaged default: the shipped demo weights, or untrained weights until they exist.

    Raises:
        CheckpointError: the shipped file exists but cannot be loaded.
    """
    shipped = weights_directory() / DEFAULT_WEIGHTS_FILE
    if shipped.is_file():
        return load_checkpoint(shipped)
    return untrained_checkpoint()
