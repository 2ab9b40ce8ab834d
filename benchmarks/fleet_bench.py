"""The fleet path against single-process ``evaluate``, side by side in one run (issue 23).

Writes 12 bags of 40 frames at 640x480 (synthetic drives with exact labels,
kept in ``--work`` for the next run), then times, each in a fresh
``lednet-ros evaluate`` process on all 12 bags, start-up included:

1. in this process, one bag after another, ``--threads 1`` (no Ray);
2. on a local Ray cluster, 1 worker of 1 CPU (one model thread);
3. on a local Ray cluster, 2 workers of 1 CPU each;
4. for information, in this process with the engine's default threads.

Every row runs fp32 (``--precision fp32``) with the same backend, so the
rows' confusion matrices must be equal, and the script checks it. Prints a
Markdown table (wall time, frames per second, speed-ups, peak memory per
worker from the per-unit results) and writes the figures as JSON.
``--memory`` adds the peak memory of one worker on a bag of 200 frames
against one of 2,000 (320x240), which shows that a unit streams its frames.

    python benchmarks/fleet_bench.py --out out/fleet_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from lednet_ros.cpu import cpu_info
from lednet_ros.data.bags import BagWriter
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene

REPO = Path(__file__).resolve().parent.parent
ROWS = {
    "evaluate --threads 1 (in-process)": ["--threads", "1"],
    "fleet, 1 worker x 1 CPU": ["--workers", "1", "--cpus-per-worker", "1"],
    "fleet, 2 workers x 1 CPU": ["--workers", "2", "--cpus-per-worker", "1"],
    "evaluate, default threads (in-process)": [],
}


def make_bags(folder: Path, bags: int, frames: int, size: tuple[int, int]) -> Path:
    """``bags`` drives of ``frames`` frames (image bgr8 + mono8 labels, equal stamps); kept if already there."""
    for b in range(bags):
        path = folder / f"drive_{b:02d}"
        if (path / "metadata.yaml").exists():
            continue
        with BagWriter(path, "sqlite3") as bag:
            for i in range(frames):
                scene = street_scene(*size, seed=frame_seed(100 + b, i))
                stamp = 1_700_000_000_000_000_000 + b * 10**12 + i * 100_000_000
                bag.write_image("/camera/image_raw", scene.image[..., ::-1], "bgr8", stamp, "camera")
                bag.write_image("/camera/labels", scene.labels, "mono8", stamp, "camera")
    return folder


def run_row(bags: Path, out: Path, extra: list[str], common: list[str]) -> dict[str, Any]:
    """One ``lednet-ros evaluate`` process over all bags: wall time, frames, matrix, per-worker peak memory."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lednet_ros", "evaluate", str(bags), "--out", str(out), "--force",
                           *common, *extra], cwd=REPO, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"evaluate failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    units = [json.loads(line)["result"] for line in (out / "units.jsonl").read_text().splitlines()]
    peaks: dict[int, float] = {}
    for unit in units:
        peaks[unit["pid"]] = max(peaks.get(unit["pid"], 0.0), unit.get("peak_rss_mb", 0.0))
    return {"wall_s": round(wall, 2), "frames": report["frames"], "fps": round(report["frames"] / wall, 2),
            "inference_ms_mean": report["inference_ms"]["mean"], "workers": len(peaks),
            "peak_rss_mb_per_worker": sorted(peaks.values()), "confusion": report["confusion"]}  # fmt: skip


def memory_rows(work: Path, common: list[str]) -> dict[str, Any]:
    """Peak memory of one Ray worker on a bag of 200 frames and on one of 2,000 (320x240)."""
    found = {}
    for frames in (200, 2000):
        bags = make_bags(work / f"memory_{frames}", 1, frames, (320, 240))
        row = run_row(bags, work / f"memory_out_{frames}", ["--workers", "1", "--slice-frames", "100000"], common)
        found[str(frames)] = {"peak_rss_mb": row["peak_rss_mb_per_worker"], "wall_s": row["wall_s"]}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("out/fleet_bench"), help="bags and outputs")
    parser.add_argument("--out", type=Path, default=Path("out/fleet_bench.json"), help="the JSON figures")
    parser.add_argument("--bags", type=int, default=12)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--weights", help="weights file (default: the packaged weights)")
    parser.add_argument("--model-size", metavar="WxH", help="model input size (default: the weights')")
    parser.add_argument("--memory", action="store_true", help="also peak memory on 200 vs 2,000 frames")
    parser.add_argument("--memory-only", action="store_true", help="only the peak memory rows")
    args = parser.parse_args()
    common = ["--precision", "fp32", *(["--weights", args.weights] if args.weights else []),
              *(["--model-size", args.model_size] if args.model_size else [])]  # fmt: skip
    if args.memory_only:
        memory = memory_rows(args.work, common)
        print("peak RSS of one worker, 200 vs 2,000 frames (320x240):", json.dumps(memory))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"memory": memory, "options": common}, indent=2) + "\n", encoding="utf-8")
        return 0
    bags = make_bags(args.work / "bags", args.bags, args.frames, (640, 480))
    load_before = os.getloadavg()[0]  # the figures mean something only on a machine otherwise idle
    rows = {name: run_row(bags, args.work / f"row{k}", extra, common) for k, (name, extra) in enumerate(ROWS.items())}
    names = list(rows)
    equal = all(rows[n]["confusion"] == rows[names[0]]["confusion"] for n in names[:3])
    base, one = rows[names[0]]["wall_s"], rows[names[1]]["wall_s"]
    cpu = cpu_info()
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    print(f"{args.bags} bags x {args.frames} frames at 640x480, fp32; {os.cpu_count()} CPUs, {cpu.model} "
          f"({' '.join(cpu.reported_flags()) or 'no flags read'}); load average {load['before']} before, "
          f"{load['after']} after")  # fmt: skip
    print("\n| variant | wall s | frames/s | vs evaluate --threads 1 | vs 1 worker | peak RSS per worker MB |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['wall_s']} | {row['fps']} | {base / row['wall_s']:.2f}x | {one / row['wall_s']:.2f}x | "
              f"{', '.join(f'{m:.0f}' for m in row['peak_rss_mb_per_worker'])} |")  # fmt: skip
    print(f"\nconfusion matrices of the fp32 one-thread rows equal: {equal}")
    result: dict[str, Any] = {"bags": args.bags, "frames_per_bag": args.frames, "size": "640x480",
                              "cpus": os.cpu_count(), "cpu": cpu.model, "cpu_flags": cpu.reported_flags(),
                              "load_average_1min": load, "matrices_equal": equal,
                              "rows": {n: {k: v for k, v in r.items() if k != "confusion"} for n, r in rows.items()}}  # fmt: skip
    if args.memory:
        result["memory"] = memory_rows(args.work, common)
        print("peak RSS of one worker, 200 vs 2,000 frames (320x240):", json.dumps(result["memory"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
