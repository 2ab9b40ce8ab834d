"""Fine-tuning to another class set: what the start weights give, freezing, label maps, and that it pays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lednet_ros.commands.score import main as score_main
from lednet_ros.commands.train import main as train_main
from lednet_ros.data.datasets import find_samples, read_label
from lednet_ros.data.generate import generate_dataset as synth
from lednet_ros.data.label_map import label_map_lut, load_label_map
from lednet_ros.errors import LednetError
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import DEFAULT_WEIGHTS_FILE, load_checkpoint
from lednet_ros.model.classes import load_class_config
from lednet_ros.model.network import LEDNet
from lednet_ros.resources import config_file, weights_directory
from lednet_ros.training.config import TrainConfig
from lednet_ros.training.finetune import transfer_weights
from lednet_ros.training.trainer import run

PACKAGED = weights_directory() / DEFAULT_WEIGHTS_FILE
ROAD4 = config_file("road4.yaml")
TO_ROAD4 = config_file("cityscapes_to_road4.yaml")
CLASS_LAYERS = {"decoder.middle.conv", "decoder.middle.bn", "decoder.pool_branch.conv", "decoder.pool_branch.bn"}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    synth(root, 8, seed=0, size=(128, 64), split="train", progress=False)
    synth(root, 6, seed=5, size=(128, 64), split="val", progress=False)  # other scenes: held out
    return root


def test_start_weights_of_another_class_set_keep_what_fits_and_reset_the_class_layers() -> None:
    start = load_checkpoint(PACKAGED)
    torch.manual_seed(3)
    model = LEDNet(4)
    torch.manual_seed(3)
    fresh = LEDNet(4).state_dict()  # the model's own initialisation under the same seed
    transfer = transfer_weights(model, start)
    state = model.state_dict()
    assert set(transfer.layers(transfer.reset)) == CLASS_LAYERS
    assert "decoder.down1.conv.weight" in transfer.kept and "encoder.stage1.down.conv.weight" in transfer.kept
    for key, value in state.items():
        expected = fresh[key] if key in transfer.reset else start.state_dict[key]
        assert torch.equal(value, expected.to(value.dtype)), key
    assert "19 -> 4 classes" in transfer.summary() and "decoder.middle.conv" in transfer.summary()


def test_label_maps_take_ids_names_and_ignore_and_refuse_the_rest(tmp_path: Path) -> None:
    road4 = load_class_config(ROAD4)
    lut = load_label_map(TO_ROAD4, road4)
    assert lut[[0, 1, 9, 10, 13, 3, 200, 255]].tolist() == [0, 1, 1, 3, 2, 2, 255, 255]
    assert label_map_lut({0: 3, 1: "ignore", 2: 255}, road4)[:4].tolist() == [3, 255, 255, 255]
    for bad, reason in [({0: "water"}, "neither a class"), ({300: 0}, "not a label value"), ({0: 4}, "neither a class"),
                        ([0, 1], "a YAML mapping"), ({"a": 1}, "not a label value")]:  # fmt: skip
        with pytest.raises(LednetError, match=reason):
            label_map_lut(bad, road4)
    big = tmp_path / "big.yaml"
    big.write_text("0: 0\n" + "#" * (2 << 20))
    with pytest.raises(LednetError, match="more than the limit"):
        load_label_map(big, road4)
    aliases = tmp_path / "alias.yaml"
    aliases.write_text("0: &a drivable\n1: *a\n")
    with pytest.raises(LednetError, match="aliases"):
        load_label_map(aliases, road4)


def test_a_fine_tuned_checkpoint_carries_its_class_set_to_the_engine(scenes: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code = train_main([str(scenes), "--out", str(tmp_path), "--size", "128x64", "--epochs", "1", "--batch-size", "4",
                       "--class-config", str(ROAD4), "--label-map", str(TO_ROAD4), "--init-weights", str(PACKAGED),
                       "--freeze-encoder-iterations", "2", "--name", "lednet.road4_test"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    log = (tmp_path / "train.log").read_text()
    assert "19 -> 4 classes" in log and "decoder.middle.conv" in log and "frozen for the first 2" in log
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    road4 = load_class_config(ROAD4)
    assert checkpoint.meta.classes == road4 and checkpoint.meta.num_classes == 4
    start = load_checkpoint(PACKAGED)
    encoder = [k for k in start.state_dict if k.startswith("encoder.")]
    for key in encoder:  # frozen for both iterations, BatchNorm statistics included: still the start's
        assert torch.equal(checkpoint.state_dict[key], start.state_dict[key]), key
    assert not torch.equal(
        checkpoint.state_dict["decoder.down1.conv.weight"], start.state_dict["decoder.down1.conv.weight"]
    )
    engine = SegmentationEngine(tmp_path / "last.pt", device="cpu", model_size=(128, 64), backend="torch")
    assert engine.classes == road4  # no class_config anywhere
    result = engine.infer(np.zeros((64, 128, 3), np.uint8), color=True)
    assert result.labels.max() < 4
    palette = {tuple(c) for c in road4.colors}
    assert {tuple(c) for c in np.unique(result.color.reshape(-1, 3), axis=0)} <= palette
    samples = find_samples(scenes, "val", load_label_map(TO_ROAD4, road4))
    assert set(np.unique(read_label(samples[0], road4)).tolist()) <= {0, 1, 2, 3, 255}
    code = score_main([str(scenes), "--split", "val", "--weights", str(tmp_path / "last.pt"), "--label-map", str(TO_ROAD4),
                       "--out", str(tmp_path / "score"), "--backend", "torch", "--device", "cpu"])  # fmt: skip
    assert code == 0 and "drivable" in (tmp_path / "score" / "score.md").read_text()


def test_the_pretrained_start_beats_random_init_on_the_same_small_budget(scenes: Path, tmp_path: Path) -> None:
    """fp32, fixed seed and threads; the margin is far below the benchmark's gap (benchmarks/README.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scores = {}
        for name, init in (("pretrained", str(PACKAGED)), ("scratch", None)):
            torch.manual_seed(0)
            config = TrainConfig(data=str(scenes), out=str(tmp_path / name), size=(128, 64), epochs=2, batch_size=4,
                                 class_config=str(ROAD4), label_map=str(TO_ROAD4), init_weights=init, seed=0,
                                 device="cpu")  # fmt: skip
            scores[name] = run(config, progress=False).history[-1]["val_miou"]
    finally:
        torch.set_num_threads(threads)
    assert scores["pretrained"] > scores["scratch"] + 0.05, scores
