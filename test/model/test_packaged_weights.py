"""The packaged weights segment camera-sized frames of a seed never used in training or selection.

The floor sits a few points under the figure measured for the model card
(weights/README.md): the same frames, the engine at the weights' own model
size, in fp32 so that every CPU kind computes the same labels. It fails if
the packaged file, the engine's pre- or post-processing, or the scene
generator drift away from what the card reports.
"""

from __future__ import annotations

import hashlib

from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import DEFAULT_WEIGHTS_FILE
from lednet_ros.resources import weights_directory

HELD_OUT_SEED = 424242
FRAMES = 16
CAMERA = (1024, 512)
MEASURED_MIOU = 61.03
"""The model card's figure on these frames (``synth --seed 424242 --frames 16 --bag``, then ``evaluate --precision fp32``)."""
FLOOR = MEASURED_MIOU - 3.0


def test_the_packaged_weights_reach_their_measured_miou_on_held_out_camera_frames() -> None:
    engine = SegmentationEngine(device="cpu", precision="fp32")
    matrix = ConfusionMatrix(engine.classes.num_classes)
    for index in range(FRAMES):
        frame = street_scene(*CAMERA, seed=frame_seed(HELD_OUT_SEED, index))
        matrix.update(frame.labels, engine.infer(frame.image, confidence=False).labels)
    miou = 100 * matrix.scores().miou
    assert miou >= FLOOR, f"{engine.checkpoint.describe()}: mIoU {miou:.2f}% on {FRAMES} held-out frames"
    assert miou <= MEASURED_MIOU + 1.0, "better than the card says: measure again and update weights/README.md"


def test_every_shipped_file_is_small_and_its_model_card_names_its_digest() -> None:
    folder = weights_directory()
    card = (folder / "README.md").read_text(encoding="utf-8")
    files = sorted(folder.glob("*.pt"))
    assert folder / DEFAULT_WEIGHTS_FILE in files
    for path in files:
        assert path.stat().st_size < 5_000_000, f"{path.name} is over 5 MB"
        assert hashlib.sha256(path.read_bytes()).hexdigest() in card, f"weights/README.md lacks {path.name}'s sha256"
