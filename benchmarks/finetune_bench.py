"""Issue 26's benchmark: fine-tuning the packaged weights to a new class set against training from scratch.

The new class set is ``config/road4.yaml`` (drivable, walkable, obstacle,
sky); the synthetic generator's Cityscapes train ids are mapped into it by
``config/cityscapes_to_road4.yaml``. Every run trains on the same
``--frames`` scenes of seed ``--seed`` at ``--size`` for the same
``--iterations`` with the same seed, from:

- ``pretrained``: the packaged ``weights/lednet_synthetic_v2.pt`` (encoder and
  attention pyramid kept, class layers reset);
- ``pretrained+freeze``: the same, with the encoder frozen for the first
  ``--freeze`` iterations;
- ``scratch``: the model's own random initialisation.

and scores the last checkpoint on ``--held-out`` scenes of seed
``--held-out-seed`` through the engine (PyTorch, fp32, ``--threads``), as
``lednet-ros score --label-map`` does. Training is fp32 (``--precision bf16``
where the CPU has it natively). Prints a Markdown table and the JSON, and
writes both to ``--out``::

    .venv/bin/python benchmarks/finetune_bench.py --out out/finetune_bench

The figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from lednet_ros.cpu import cpu_info
from lednet_ros.data.generate import generate_dataset
from lednet_ros.data.label_map import load_label_map
from lednet_ros.evaluation.score import score_split
from lednet_ros.inference.options import EngineOptions
from lednet_ros.model.checkpoint import DEFAULT_WEIGHTS_FILE
from lednet_ros.model.classes import load_class_config
from lednet_ros.resources import config_file, weights_directory
from lednet_ros.training.config import TrainConfig
from lednet_ros.training.trainer import run

CLASSES = config_file("road4.yaml")
LABEL_MAP = config_file("cityscapes_to_road4.yaml")


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("out/finetune_bench"))
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--held-out", type=int, default=100)
    p.add_argument("--size", default="512x256")
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--freeze", type=int, default=100, help="encoder frozen this many iterations in pretrained+freeze")
    p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--held-out-seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--runs", nargs="+", default=["pretrained", "pretrained+freeze", "scratch"])
    return p.parse_args()


def data(args: argparse.Namespace, size: tuple[int, int]) -> tuple[Path, Path]:
    """The training scenes and the held-out scenes (kept between runs of the script)."""
    train = args.out / f"data_{args.frames}_{args.seed}_{args.size}"
    held = args.out / f"held_out_{args.held_out}_{args.held_out_seed}_{args.size}"
    if not (train / "synth.json").is_file():
        generate_dataset(train, args.frames, seed=args.seed, size=size, split="train")
        generate_dataset(train, 4, seed=args.seed + 1000, size=size, split="val")  # the run's own (cheap) validation
    if not (held / "synth.json").is_file():
        generate_dataset(held, args.held_out, seed=args.held_out_seed, size=size, split="val")
    return train, held


def one_run(args: argparse.Namespace, name: str, train: Path, held: Path, size: tuple[int, int]) -> dict[str, object]:
    """Train one start for the budget and score it on the held-out scenes."""
    pretrained = name.startswith("pretrained")
    config = TrainConfig(
        data=str(train), out=str(args.out / name.replace("+", "_")), size=size, epochs=10_000,
        batch_size=args.batch_size, max_iterations=args.iterations, seed=args.seed, precision=args.precision,
        class_config=str(CLASSES), label_map=str(LABEL_MAP), name=f"lednet.road4_{name.replace('+', '_')}",
        init_weights=str(weights_directory() / DEFAULT_WEIGHTS_FILE) if pretrained else None,
        freeze_encoder_iterations=args.freeze if name == "pretrained+freeze" else 0, device="cpu",
    )  # fmt: skip
    torch.manual_seed(args.seed)
    started = time.monotonic()
    result = run(config, progress=True)
    seconds = time.monotonic() - started
    engine = EngineOptions(weights=str(result.last_checkpoint), device="cpu", precision="fp32", backend="torch",
                           model_size=size, threads=args.threads).build_engine()  # fmt: skip
    scores = score_split(engine, held, "val", label_map=load_label_map(LABEL_MAP, engine.classes))
    return {"run": name, "iterations": result.iterations, "training_seconds": round(seconds, 1),
            "miou": round(scores.miou, 4), "pixel_accuracy": round(scores.pixel_accuracy, 4),
            "per_class_iou": dict(zip(engine.classes.names, [round(v, 4) for v in scores.per_class_iou], strict=True))}  # fmt: skip


def table(rows: list[dict[str, object]], names: tuple[str, ...]) -> str:
    head = "| start | iterations | training time | held-out mIoU | pixel acc. | " + " | ".join(names) + " |"
    lines = [head, "|" + " --- |" * (5 + len(names))]
    for r in rows:
        per = r["per_class_iou"]
        assert isinstance(per, dict)
        lines.append(f"| {r['run']} | {r['iterations']} | {r['training_seconds']} s | {100 * float(r['miou']):.2f}% | "  # type: ignore[arg-type]
                     f"{100 * float(r['pixel_accuracy']):.2f}% | " + " | ".join(f"{100 * per[n]:.1f}" for n in names) + " |")  # type: ignore[arg-type]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    assert len(size) == 2
    args.out.mkdir(parents=True, exist_ok=True)
    train, held = data(args, size)  # type: ignore[arg-type]
    cpu = cpu_info()
    record = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cpu": cpu.model, "native_bf16": cpu.native_bf16, "torch": str(torch.__version__),
              "machine": platform.machine(), "rows": []}  # fmt: skip
    for name in args.runs:  # the files are rewritten after each run, so a run cut short keeps what finished
        record["rows"].append(one_run(args, name, train, held, size))  # type: ignore[arg-type, union-attr]
        text = table(record["rows"], load_class_config(CLASSES).names)  # type: ignore[arg-type]
        (args.out / "finetune_bench.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (args.out / "finetune_bench.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
