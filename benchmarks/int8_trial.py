"""Issue 18's int8 trial: OpenVINO post-training quantization (NNCF) against fp32 and bf16.

Not part of the package: NNCF is not a dependency. Run it with NNCF on the
path (``pip install nncf==3.4.0``), e.g.::

    python3 benchmarks/int8_trial.py --out benchmarks/int8_trial

It exports the packaged weights' folded network at the weights' size,
calibrates int8 on ``--calibration`` synthetic frames of ``--calibration-seed``
(not the evaluation set), with and without the sensitive layers (the first
downsampler and the whole attention pyramid decoder, whose outputs are the
class scores) kept in floating point, and then measures every variant on the
held-out set (``synth --seed 2`` frames at the weights' size): mIoU, label
agreement with OpenVINO fp32, and latency at the weights' size and at
1024x512 (interleaved runs, p50). Writes ``int8_trial.json`` and
``int8_trial.md``. The figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import openvino
import torch
from tqdm import tqdm

from lednet_ros.cpu import cpu_info
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.inference.backends import OPENVINO_HINTS
from lednet_ros.inference.onnx_export import export_coarse_onnx
from lednet_ros.inference.pixels import classify_scores
from lednet_ros.model.checkpoint import load_weights
from lednet_ros.model.network import fold_batchnorm

SENSITIVE = ["/encoder/stage1/down/conv/Conv"]
"""The first downsampler; every convolution under ``/decoder/`` is added from the graph."""


def frames(seed: int, count: int, size: tuple[int, int], version: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(N x 3 x H x W float32 input in [0, 1], H x W labels) of ``count`` scenes of ``seed`` at ``size``."""
    out = []
    for index in tqdm(range(count), desc=f"scenes of seed {seed}", unit="frame"):
        scene = street_scene(*size, seed=frame_seed(seed, index), version=version)
        out.append((np.ascontiguousarray(scene.image.transpose(2, 0, 1)[None], np.float32) / 255.0, scene.labels))
    return out


def labels_of(coarse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The engine's own step after the network (upsampling to (width, height), argmax)."""
    channel, _ = classify_scores(torch.from_numpy(coarse), (size[1], size[0]), confidence=False)
    return channel[0].numpy().astype(np.uint8)


def compile_variant(model: openvino.Model, precision: str, threads: int) -> openvino.CompiledModel:
    """OpenVINO's CPU plugin at a latency hint; f32 and bf16 set explicitly, int8 graphs keep f32 elsewhere."""
    hint = OPENVINO_HINTS.get(precision, "f32")
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads}
    return openvino.Core().compile_model(model, "CPU", config)


def quantize(onnx_path: Path, calibration: list[tuple[np.ndarray, np.ndarray]], keep_sensitive: bool) -> openvino.Model:
    """NNCF's post-training quantization (mixed preset: symmetric weights, asymmetric activations)."""
    import nncf  # noqa: PLC0415 (only this trial needs it)

    model = openvino.Core().read_model(str(onnx_path))
    ignored = None
    if keep_sensitive:
        names = [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "Convolution"]
        kept = [n for n in names if n.startswith("/decoder/") or any(n.startswith(s) for s in SENSITIVE)]
        ignored = nncf.IgnoredScope(names=kept, validate=False)
    dataset = nncf.Dataset([x for x, _ in calibration])
    return nncf.quantize(model, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibration),
                         ignored_scope=ignored)  # fmt: skip


def p50_ms(compiled: dict[str, openvino.CompiledModel], shape: tuple[int, ...], runs: int) -> dict[str, float]:
    """Median latency of each compiled model at ``shape``, runs interleaved so that noise hits all alike."""
    batch = np.random.default_rng(0).random(shape, dtype=np.float32)
    requests = {name: c.create_infer_request() for name, c in compiled.items()}
    times: dict[str, list[float]] = {name: [] for name in compiled}
    for _ in range(3):
        for request in requests.values():
            request.infer({0: batch})
    for _ in tqdm(range(runs), desc=f"timing {shape[3]}x{shape[2]}", unit="round"):
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer({0: batch})
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    """Run the trial and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/int8_trial"), help="report folder")
    parser.add_argument("--weights", default=None, help="weights file (default: the packaged ones)")
    parser.add_argument("--frames", type=int, default=200, help="held-out frames of seed 2 (default: 200)")
    parser.add_argument("--calibration", type=int, default=300, help="calibration frames (default: 300)")
    parser.add_argument("--calibration-seed", type=int, default=3, help="their seed (default: 3)")
    parser.add_argument("--scene-version", type=int, default=2, help="scene generator version (default: 2)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default: 2)")
    parser.add_argument("--runs", type=int, default=30, help="timed rounds per size (default: 30)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = load_weights(args.weights)
    size = checkpoint.meta.train_size or (1024, 512)
    model = fold_batchnorm(checkpoint.build_model()).eval()
    graphs = {}
    for shape in ((1, 3, size[1], size[0]), (1, 3, 512, 1024)):
        graphs[shape] = export_coarse_onnx(model, shape, args.out / f"lednet_{shape[3]}x{shape[2]}.onnx")
    evaluation = frames(2, args.frames, size, args.scene_version)
    calibration = frames(args.calibration_seed, args.calibration, size, args.scene_version)
    variants: dict[tuple[int, ...], dict[str, openvino.CompiledModel]] = {}
    for shape, path in graphs.items():
        calib = calibration if shape[2:] == (size[1], size[0]) else []
        plain = openvino.Core().read_model(str(path))
        variants[shape] = {"fp32": compile_variant(plain, "fp32", args.threads),
                           "bf16": compile_variant(plain, "bf16", args.threads)}  # fmt: skip
        if calib:
            variants[shape]["int8"] = compile_variant(quantize(path, calib, False), "int8", args.threads)
            variants[shape]["int8 (sensitive layers fp32)"] = compile_variant(quantize(path, calib, True), "int8",
                                                                               args.threads)  # fmt: skip
    model_shape = (1, 3, size[1], size[0])
    scores: dict[str, dict[str, float]] = {}
    reference: list[np.ndarray] = []
    for name, compiled in variants[model_shape].items():
        matrix, agree = ConfusionMatrix(checkpoint.meta.num_classes), []
        request = compiled.create_infer_request()
        for index, (x, truth) in enumerate(tqdm(evaluation, desc=f"scoring {name}", unit="frame")):
            request.infer({0: x})
            labels = labels_of(request.get_output_tensor(0).data.copy(), size)
            matrix.update(truth, labels)
            if name == "fp32":
                reference.append(labels)
            agree.append(float((labels == reference[index]).mean()))
        result = matrix.scores()
        scores[name] = {"miou": 100 * result.miou, "agreement_mean": 100 * float(np.mean(agree)),
                        "agreement_worst": 100 * float(np.min(agree))}  # fmt: skip
    # int8 graphs exist at the weights' size only; at 1024x512 the same quantized weights need their own
    # calibration at that shape, so the 1024x512 row compares fp32 and bf16 and the int8 speed-up is read
    # at the weights' size.
    timing = {f"{s[3]}x{s[2]}": p50_ms(v, s, args.runs) for s, v in variants.items()}
    cpu = cpu_info()
    report = {"cpu": cpu.model, "flags": cpu.reported_flags(), "threads": args.threads, "size": list(size),
              "weights": checkpoint.describe(), "frames": args.frames, "calibration": args.calibration,
              "openvino": openvino.__version__, "scores": scores, "p50_ms": timing}  # fmt: skip
    (args.out / "int8_trial.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"CPU: {cpu.model} ({', '.join(cpu.reported_flags())}), {args.threads} threads, OpenVINO {openvino.__version__}",
             f"weights {checkpoint.describe()}; held-out: {args.frames} frames of seed 2 at {size[0]}x{size[1]}", "",
             "| variant | mIoU % | agreement with fp32 % (mean / worst) | " + " | ".join(f"p50 ms {k}" for k in timing) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in timing) + " |"]  # fmt: skip
    for name, s in scores.items():
        cells = [f"{timing[k][name]:.1f}" if name in timing[k] else "" for k in timing]
        lines.append(f"| {name} | {s['miou']:.2f} | {s['agreement_mean']:.2f} / {s['agreement_worst']:.2f} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    (args.out / "int8_trial.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
