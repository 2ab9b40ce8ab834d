from __future__ import annotations

import os
import pickle
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from authors_reference import authors_forward, authors_state_dict
from conftest import randomized_checkpoint

from lednet_ros.errors import CheckpointError
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import (
    CHECKPOINT_FORMAT,
    default_checkpoint,
    load_checkpoint,
    save_checkpoint,
    untrained_checkpoint,
)


def test_project_format_round_trips_weights_and_metadata(tmp_path: Path) -> None:
    source = randomized_checkpoint(3)
    meta = replace(source.meta, name="lednet.test_v1", trained=True, train_size=(512, 256),
                   mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), provenance={"recipe": "unit test"})  # fmt: skip
    path = save_checkpoint(tmp_path / "sub" / "w.pt", source.build_model(), meta)
    loaded = load_checkpoint(path)
    assert loaded.source_format == "lednet_ros"
    assert loaded.meta.name == "lednet.test_v1"
    assert loaded.meta.mean == (0.4, 0.5, 0.6)
    assert loaded.meta.train_size == (512, 256)
    assert loaded.meta.classes == source.meta.classes
    assert loaded.meta.provenance["recipe"] == "unit test"
    assert "created" in loaded.meta.provenance
    assert loaded.sha256 is not None and len(loaded.sha256) == 64
    for key, value in source.state_dict.items():
        assert torch.equal(loaded.state_dict[key], value), key
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT


def test_save_refuses_metadata_that_does_not_describe_the_model(tmp_path: Path) -> None:
    source = randomized_checkpoint(0)
    with pytest.raises(CheckpointError, match="does not match its metadata"):
        save_checkpoint(tmp_path / "w.pt", source.build_model(), replace(source.meta, mirrored_right=False))


def _save_authors(tmp_path: Path, sd: dict[str, torch.Tensor], *, wrapped: bool) -> Path:
    if wrapped:  # what train/main.py writes as checkpoint.pth.tar: DataParallel prefix + training state
        payload: object = {
            "epoch": 150,
            "arch": "Net(...)",
            "state_dict": {f"module.{k}": v for k, v in sd.items()},
            "best_acc": 0.7,
            "optimizer": {"state": {}, "param_groups": [{"lr": 5e-4, "params": [0, 1]}]},
        }
        path = tmp_path / "checkpoint.pth.tar"
    else:
        payload = sd
        path = tmp_path / "model_best.pth"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("wrapped", [True, False])
def test_authors_checkpoint_loads_with_void_class_and_equals_their_network(tmp_path: Path, wrapped: bool) -> None:
    sd = authors_state_dict(num_classes=20, seed=4)
    checkpoint = load_checkpoint(_save_authors(tmp_path, sd, wrapped=wrapped))
    assert checkpoint.source_format == "authors"
    assert checkpoint.meta.num_classes == 20
    assert checkpoint.meta.void_class == 19
    assert checkpoint.meta.mirrored_right is True
    assert checkpoint.meta.classes.num_classes == 19
    model = checkpoint.build_model().double()
    x = torch.rand(1, 3, 512, 1024, dtype=torch.float64)
    with torch.no_grad():
        expected = authors_forward({k: v.double() if v.is_floating_point() else v for k, v in sd.items()}, x)
        actual = model(x)
    assert expected.shape == actual.shape == (1, 20, 512, 1024)
    error = (actual - expected).abs().max().item()
    print(
        f"authors' layout equivalence at 1024x512: max abs difference {error:.3g} (max |logit| {expected.abs().max():.3g})"
    )
    assert error < 1e-10, f"max abs difference to the authors' network: {error}"


def test_engine_publishes_the_authors_void_class_as_ignore(tmp_path: Path) -> None:
    sd = authors_state_dict(seed=2)
    sd["decoder.apn.branch1.1.conv.1.bias"][19] = 1e3  # make every pixel's best class the void channel
    checkpoint = load_checkpoint(_save_authors(tmp_path, sd, wrapped=True))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64))
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    result = engine.infer(image, color=True, overlay=True)
    assert (result.labels == 255).all()
    assert (result.color == 0).all()  # ignore colour from the class config
    assert np.array_equal(result.overlay, image)  # ignored pixels keep the camera image


def test_bare_project_state_dict_is_accepted(tmp_path: Path) -> None:
    source = randomized_checkpoint(5)
    torch.save({"model": {f"_orig_mod.{k}": v for k, v in source.state_dict.items()}}, tmp_path / "bare.pt")
    loaded = load_checkpoint(tmp_path / "bare.pt")
    assert loaded.meta.mirrored_right is True
    assert torch.equal(loaded.state_dict["decoder.middle.conv.weight"], source.state_dict["decoder.middle.conv.weight"])


def test_non_string_tensor_names_are_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {0: torch.zeros(1)}}, tmp_path / "ints.pt")
    with pytest.raises(CheckpointError, match="tensor names must be strings, found int 0"):
        load_checkpoint(tmp_path / "ints.pt")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothere\.pt: weights file not found"):
        load_checkpoint(tmp_path / "nothere.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_empty_truncated_and_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: weights file is empty"):
        load_checkpoint(tmp_path / "empty.pt")
    good = save_checkpoint(tmp_path / "good.pt", randomized_checkpoint(0).build_model(), randomized_checkpoint(0).meta)
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"trunc\.pt: not a readable PyTorch weights file; truncated or corrupt"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "noise.pt").write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(CheckpointError, match=r"noise\.pt: not a readable PyTorch weights file"):
        load_checkpoint(tmp_path / "noise.pt")


FUZZ_CASES = 240


def test_fuzzed_weights_files_load_or_give_a_checkpoint_error_never_anything_else(tmp_path: Path) -> None:
    """Random bytes, pickle and zip look-alikes, truncations and bit flips of a real checkpoint.

    A file may load (a flip inside tensor data can leave valid, finite
    numbers) or raise CheckpointError; any other exception is a bug (found
    this way: garbage made torch's safe unpickler raise IndexError).
    """
    good = save_checkpoint(tmp_path / "good.pt", randomized_checkpoint(0).build_model(), randomized_checkpoint(0).meta)
    data = good.read_bytes()
    rng = random.Random(1234)
    outcomes = {"loaded": 0, "error": 0}
    for case in range(FUZZ_CASES):
        kind = case % 6
        if kind == 0:
            payload = rng.randbytes(rng.randint(1, 5000))
        elif kind == 1:
            payload = b"\x80\x02" + rng.randbytes(rng.randint(0, 500))  # a pickle header, then noise
        elif kind == 2:
            payload = b"PK\x03\x04" + rng.randbytes(rng.randint(0, 2000))  # a zip header, then noise
        elif kind == 3:
            payload = data[: rng.randint(1, len(data) - 1)]
        else:
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            payload = bytes(flipped)
        path = tmp_path / f"fuzz_{case}.pt"
        path.write_bytes(payload)
        try:
            load_checkpoint(path)
            outcomes["loaded"] += 1
        except CheckpointError as exc:
            assert str(exc).startswith(str(path)), exc
            outcomes["error"] += 1
        path.unlink()
    assert outcomes["error"] >= FUZZ_CASES // 2, outcomes


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": _Exploit(marker)}}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused to load: the file references Python code"):
        load_checkpoint(path)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"  # a legacy (non-zip) pickle: torch reads those too
    plain.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(plain)
    newer = tmp_path / "protocol5.pkl"  # opcodes torch's safe unpickler does not know: refused as unreadable
    newer.write_bytes(pickle.dumps(_Exploit(marker), protocol=5))
    with pytest.raises(CheckpointError, match=r"protocol5\.pkl: "):
        load_checkpoint(newer)
    assert not marker.exists()


def test_wrong_shape_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    sd = authors_state_dict(seed=0)
    sd["encoder.layers.5.conv1x3_1_l.weight"] = torch.zeros(32, 32, 3, 3)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(
        CheckpointError,
        match=r"shape\.pth: tensor 'encoder\.stage2\.unit2\.left\.conv1b\.weight' has shape \(32, 32, 3, 3\) but LEDNet\(num_classes=20, mirrored_right=True\) expects \(32, 32, 1, 3\)",
    ):
        load_checkpoint(tmp_path / "shape.pth")


def test_missing_tensors_and_unknown_layouts_are_named(tmp_path: Path) -> None:
    sd = authors_state_dict(seed=0)
    del sd["encoder.layers.9.bn2_r.running_var"]
    torch.save(sd, tmp_path / "missing.pth")
    with pytest.raises(
        CheckpointError, match=r"1 missing \(first: 'encoder\.stage3\.unit3\.right\.bn2\.running_var'\)"
    ):
        load_checkpoint(tmp_path / "missing.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"not a LEDNet checkpoint in a known layout.*'fc\.weight'"):
        load_checkpoint(tmp_path / "other.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="expected a dictionary of tensors, found a list"):
        load_checkpoint(tmp_path / "list.pth")


def test_non_finite_weights_and_bad_metadata_are_refused(tmp_path: Path) -> None:
    sd = authors_state_dict(seed=0)
    sd["decoder.apn.mid.0.conv.0.bias"][3] = float("nan")
    torch.save(sd, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match=r"'decoder\.apn\.mid\.0\.conv\.0\.bias' holds NaN"):
        load_checkpoint(tmp_path / "nan.pth")
    good = randomized_checkpoint(0)
    path = save_checkpoint(tmp_path / "meta.pt", good.build_model(), good.meta)
    payload = torch.load(path, weights_only=True)
    payload["meta"]["num_classes"] = 7
    torch.save(payload, tmp_path / "badmeta.pt")
    with pytest.raises(CheckpointError, match="7 outputs do not match 19 classes"):
        load_checkpoint(tmp_path / "badmeta.pt")
    payload["format"] = "lednet_ros.checkpoint/99"
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=r"unsupported checkpoint format 'lednet_ros\.checkpoint/99'"):
        load_checkpoint(tmp_path / "future.pt")


def test_default_checkpoint_is_the_shipped_weights_or_marked_untrained() -> None:
    checkpoint = default_checkpoint()
    if checkpoint.path is None:
        assert checkpoint.meta.trained is False
        assert "UNTRAINED" in checkpoint.describe()
    else:
        assert checkpoint.meta.trained is True
    assert checkpoint.meta.classes.num_classes == 19


def test_untrained_weights_are_reproducible_and_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = untrained_checkpoint(seed=0)
    after = torch.rand(1)
    b = untrained_checkpoint(seed=0)
    assert torch.equal(before, after)
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    c = untrained_checkpoint(seed=1)
    assert not torch.equal(a.state_dict["decoder.middle.conv.weight"], c.state_dict["decoder.middle.conv.weight"])
