"""``lednet-ros evaluate`` on a fleet in this process (no Ray): the sum of the bags, failures listed, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fleet_bags import FLEET_FRAMES, build_fleet, evaluate_in_process, expected_report

from lednet_ros.commands.evaluate import main as evaluate
from lednet_ros.evaluation.offline import run
from lednet_ros.fleet.units import ALL_CAMERAS, Camera, find_bags, plan_units
from lednet_ros.inference.options import EngineOptions


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory, checkpoint: object) -> Path:
    return build_fleet(tmp_path_factory.getbasetemp(), checkpoint)


def untimed(report: dict) -> dict:
    """A report without its timings, which a recomputed unit measures anew."""
    rows = [{k: v for k, v in row.items() if k != "inference_ms_mean"} for row in report["per_bag"]]
    return {**{k: v for k, v in report.items() if k != "inference_ms"}, "per_bag": rows}


def single_bag_sum(fleet: Path) -> np.ndarray:
    """What ``evaluate`` of one bag at a time gives, summed over the bags and cameras it can score."""
    engine = EngineOptions(str(fleet / "weights.pt"), precision="fp32", model_size=(64, 32), threads=1,
                           backend="onnxruntime").build_engine()  # fmt: skip
    total = np.zeros((19, 19), np.int64)
    bags = (
        ("day1/a", ("/front", "/rear")),
        ("day1/b", ("/front",)),
        ("day1/long", ("/front",)),
        ("day2/big", ("/front",)),
    )
    for bag, cameras in bags:
        for camera in cameras:
            result = run(fleet / "bags" / bag, f"{camera}/image_raw", f"{camera}/labels", engine.classes,
                         engine=engine, progress=False, max_pixels=9000)  # fmt: skip
            total += result.confusion
    return total


def test_a_fleet_scores_as_the_sum_of_its_bags_and_lists_what_failed(fleet: Path, tmp_path: Path) -> None:
    status, report = evaluate_in_process(fleet, fleet / "expected")  # what the Ray tests compare with
    assert report == expected_report(fleet)
    assert status == 3  # some bags failed: documented exit status
    assert "ray" not in sys.modules  # no Ray option: never imported
    assert np.array_equal(np.asarray(report["confusion"]), single_bag_sum(fleet))
    assert report["frames"] == FLEET_FRAMES
    rows = {(Path(r["bag"]).name, r["camera"]): r for r in report["per_bag"]}
    assert rows[("broken", "/front/image_raw")]["status"] == "failed"
    assert "metadata" in rows[("broken", "/front/image_raw")]["reason"]
    assert rows[("truncated", "/front/image_raw")]["status"] == "failed"
    assert rows[("big", "/front/image_raw")]["status"] == "incomplete"
    assert "size limits" in rows[("big", "/front/image_raw")]["reason"]
    assert rows[("unlabelled", "/front/image_raw")]["status"] == "no labels"
    assert rows[("b", "/rear/image_raw")]["status"] == "no images"
    scored = [r["miou"] for r in report["per_bag"] if r["status"] == "ok"]
    assert scored == sorted(scored)  # worst first
    assert set(report["per_camera"]) == {"/front/image_raw", "/rear/image_raw"}
    for name in ("report.md", "confusion.png", "per_class_iou.png", "miou_histogram.png"):
        assert (fleet / "expected" / name).stat().st_size > 0


def test_a_rerun_resumes_from_the_finished_units(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _, first = evaluate_in_process(fleet, out)
    log = out / "units.jsonl"
    lines = log.read_text().splitlines()
    assert len(lines) == 12  # 7 bags x 2 cameras, but a bag that does not open is one unit for both
    log.write_text("\n".join([*lines[:5], lines[5][:20]]) + "\n")  # a crash cut the 6th line short
    _, resumed = evaluate_in_process(fleet, out)
    assert untimed(resumed) == untimed(first)
    assert len(log.read_text().splitlines()) == 5 + 1 + 7  # the 5 kept, the cut line, 7 recomputed
    _, forced = evaluate_in_process(fleet, out, "--force")
    assert untimed(forced) == untimed(first) and len(log.read_text().splitlines()) == 12


def test_units_slice_long_bags_by_receive_time_without_losing_a_frame(fleet: Path) -> None:
    bag = fleet / "bags/day1/b"
    units = plan_units([bag], [Camera("/front/image_raw", "/front/labels")], slice_frames=2)
    assert [(u.part, u.parts, u.frames) for u in units] == [(0, 2, 2), (1, 2, 2)]
    assert units[0].stop_ns == units[1].start_ns
    from lednet_ros.model.classes import load_class_config

    classes = load_class_config()
    frames = [run(bag, "/front/image_raw", "/front/labels", classes, predictions_topic="/front/labels",
                  progress=False, window_ns=(u.start_ns, u.stop_ns)).frames for u in units]  # fmt: skip
    assert frames == [2, 2]


def test_bags_are_found_in_folders_and_a_missing_path_is_one_error(fleet: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    found = find_bags([fleet / "bags", fleet / "bags/day1/a"])
    assert [p.name for p in found] == ["a", "b", "long", "big", "broken", "truncated", "unlabelled"]
    assert evaluate([str(fleet / "bags"), str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().endswith("nothing: no such bag or folder")


def test_all_cameras_are_the_image_topics_with_a_labels_partner(fleet: Path) -> None:
    units = plan_units(find_bags([fleet / "bags/day1"]), [Camera(ALL_CAMERAS)])
    found = {(Path(u.bag).name, u.camera.image_topic, u.camera.label_topic) for u in units}
    assert found == {("a", "/front/image_raw", "/front/labels"), ("a", "/rear/image_raw", "/rear/labels"),
                     ("b", "/front/image_raw", "/front/labels"), ("long", "/front/image_raw", "/front/labels")}  # fmt: skip
