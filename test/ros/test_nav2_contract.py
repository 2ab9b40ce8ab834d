"""The contract of Nav2's semantic segmentation layer, held by the node over real DDS.

The layer (kiwicampus/semantic_segmentation_layer, ros-navigation's carry-on)
syncs a mask, a confidence image and a cloud by exact stamp, walks the mask
and the cloud together (point i is pixel i, invalid points NaN), and maps
class ids to its YAML's class names with the ``vision_msgs/LabelInfo`` it
gets reliable and transient local. One node process (``cloud_layout``
organized) and one probe process that subscribes as the layer does
(``nav2_layer_probe.py``, with ``../shared/vision_msgs`` on its paths) serve
every case; the node's parameters change between cases at run time:

| case | depth | cloud_stride | filter |
| --- | --- | --- | --- |
| full | the colour frame's size | 1 | off |
| half | half of it | 1 | off |
| stride2 | the colour frame's size | 2 | off |
| filtered | the colour frame's size | 1 | min_confidence and publish_classes set |

The node is the managed one (``managed:=true``), configured and activated
by the probe as Nav2's lifecycle manager would: LabelInfo must come with
activation. The parameters are read back with ``ros2 param get`` and the latched
LabelInfo printed with ``ros2 topic echo --qos-durability transient_local``
(ros2cli from a ROS 2 install or ``../shared/ros2_tooling``). The Nav2
example's class names are checked against what the node lists, both ways.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import randomized_checkpoint
from ros2_tooling import Launch, Ros2, ros2_fixture  # noqa: F401 (the ros2 fixture)
from vision_msgs_env import REPO, environment

from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.model.classes import load_class_config

NAMESPACE = "nav2"
NODE = f"/{NAMESPACE}/lednet_segmentation"
PROBE = Path(__file__).with_name("nav2_layer_probe.py")
COLOUR = (160, 120)
FOCAL = 100.0  # the probe's colour focal length; the depth camera_info is scaled to the depth size
CASES = {
    "full": {"depth": [160, 120], "stride": 1},
    "half": {"depth": [80, 60], "stride": 1},
    "stride2": {"depth": [160, 120], "stride": 2},
}
CLASSES = load_class_config()


@dataclass
class Contract:
    """What the probe received per case, and what the tools printed."""

    ready: dict[str, Any]
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    threshold: float = 0.0
    answers: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)


class ProbeProcess:
    def __init__(self, out: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, str(PROBE), NAMESPACE, str(out), "--managed"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, text=True, cwd=REPO)  # fmt: skip
        self.out = out

    def answer(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        assert line, f"the probe ended ({self.process.wait()})"
        return json.loads(line)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self.answer()

    def case(self, name: str, stamp: int, depth: list[int]) -> dict[str, Any]:
        answer = self.ask({"case": name, "stamp": stamp, "depth": depth, "colour": list(COLOUR), "seed": 4})
        assert answer == {"done": name}, answer
        with np.load(self.out / f"{name}.npz") as data:
            received = {key: data[key] for key in data.files}
        received["meta"] = json.loads(str(received["meta"]))
        return received

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write('{"quit": true}\n')  # type: ignore[union-attr]
                self.process.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass  # it ended already
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory, ros2: Ros2) -> Iterator[Contract]:
    """The node as ``segmentation_nav2.launch.py`` starts it, the probe, every case in turn."""
    folder = tmp_path_factory.mktemp("nav2")
    checkpoint = randomized_checkpoint(11)
    weights = save_checkpoint(folder / "w.pt", checkpoint.build_model(), checkpoint.meta)
    env = environment(ros2.env)
    log = folder / "launch.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*ros2.command, "launch", "lednet_ros", "segmentation_nav2.launch.py", f"namespace:={NAMESPACE}",
             f"image_topic:=/{NAMESPACE}/image", f"camera_info_topic:=/{NAMESPACE}/camera_info",
             "depth_topic:=depth/image", f"weights:={weights}", "device:=cpu", "backend:=torch", "model_width:=64",
             "model_height:=32", "warmup_image_sizes:=[160x120]", "managed:=true"],
            stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    launch = Launch(process, log)
    probe = ProbeProcess(folder, env)
    try:
        result = Contract(ready=probe.answer())
        assert result.ready.get("ready"), (result.ready, launch.output())
        for stamp, (name, case) in enumerate(CASES.items(), start=100):
            result.answers[f"set {name}"] = probe.ask({"set": {"cloud_stride": case["stride"]}})
            result.cases[name] = probe.case(name, stamp, case["depth"])
        full = result.cases["full"]
        result.published, result.threshold = _filter_for(full["labels"], full["confidence"])
        result.answers["unknown class"] = probe.ask({"set": {"publish_classes": ["road", "lawn"]}})
        result.answers["filter"] = probe.ask({"set": {"cloud_stride": 1, "min_confidence": result.threshold,
                                                      "publish_classes": result.published}})  # fmt: skip
        result.cases["filtered"] = probe.case("filtered", 200, [160, 120])
        commands = {name: ("param", "get", "--no-daemon", "--timeout", "20", NODE, name)
                    for name in ("min_confidence", "publish_classes", "cloud_layout")}  # fmt: skip
        commands["echo"] = ("topic", "echo", "--no-daemon", "--once", "--timeout", "20", "--qos-durability",
                            "transient_local", "--qos-reliability", "reliable",
                            f"/{NAMESPACE}/segmentation/label_info", "vision_msgs/msg/LabelInfo")  # fmt: skip
        with ThreadPoolExecutor(len(commands)) as pool:  # side by side: each one mostly waits for discovery
            runs = {name: pool.submit(ros2.run, *args, env=env) for name, args in commands.items()}
            result.tools = {name: run.result().stdout for name, run in runs.items()}
        probe.close()
        launch.assert_clean_interrupt()
        yield result
    finally:
        probe.close()
        launch.close()


def _filter_for(labels: np.ndarray, confidence: np.ndarray) -> tuple[list[str], float]:
    """The two most frequent classes, and a threshold that keeps about half of their pixels."""
    ids, counts = np.unique(labels[labels != CLASSES.ignore_id], return_counts=True)
    top = sorted(int(i) for i in ids[np.argsort(counts)[-2:]])
    floor = int(np.median(confidence[np.isin(labels, top)]))
    return [CLASSES.names[i] for i in top], floor / 255.0


def _grid(image: np.ndarray, name: str) -> np.ndarray:
    """The colour-frame image at the case's cloud grid, by hand (nearest pixel centre)."""
    return {"full": image, "filtered": image, "half": image[1::2, 1::2], "stride2": image[::2, ::2]}[name]


ALL_CASES = [*CASES, "filtered"]


@pytest.mark.parametrize("name", ALL_CASES)
def test_mask_confidence_and_cloud_have_one_size_step_width_and_one_point_per_pixel(contract: Contract, name: str) -> None:  # fmt: skip
    meta = contract.cases[name]["meta"]
    width, height, point_step, row_step, dense, size = meta["cloud"]
    stride = CASES.get(name, {"stride": 1})["stride"]
    depth = CASES.get(name, {"depth": [160, 120]})["depth"]
    assert (width, height) == (-(-depth[0] // stride), -(-depth[1] // stride))
    assert row_step == width * point_step and size == row_step * height and not dense
    for image in ("cloud_labels", "cloud_confidence"):
        assert meta["images"][image] == [width, height, width, "mono8"], (image, meta["images"][image])


@pytest.mark.parametrize("name", ALL_CASES)
def test_nan_exactly_where_depth_was_zero_and_z_is_the_depth(contract: Contract, name: str) -> None:
    case = contract.cases[name]
    stride = CASES.get(name, {"stride": 1})["stride"]
    millimetres = case["depth_mm"][::stride, ::stride]
    for axis in ("x", "y", "z"):
        assert np.array_equal(np.isnan(case[axis]), millimetres == 0), axis
    valid = millimetres > 0
    np.testing.assert_allclose(case["z"][valid], millimetres[valid] * 0.001, rtol=1e-6)


@pytest.mark.parametrize("name", ALL_CASES)
def test_point_i_is_pixel_i_and_carries_the_mask_s_label(contract: Contract, name: str) -> None:
    case = contract.cases[name]
    stride = CASES.get(name, {"stride": 1})["stride"]
    dw, dh = CASES.get(name, {"depth": [160, 120]})["depth"]
    fx, cx = FOCAL * dw / COLOUR[0], COLOUR[0] / 2 * dw / COLOUR[0]
    fy, cy = FOCAL * dh / COLOUR[1], COLOUR[1] / 2 * dh / COLOUR[1]
    valid = ~np.isnan(case["z"])
    rows, cols = np.nonzero(valid)
    u = case["x"][valid] / case["z"][valid] * fx + cx
    v = case["y"][valid] / case["z"][valid] * fy + cy
    assert np.allclose(u, cols * stride, atol=1e-3) and np.allclose(v, rows * stride, atol=1e-3)
    assert np.array_equal(case["label"], case["cloud_labels"])  # every point, valid or not
    assert np.array_equal(case["cloud_labels"], _grid(case["labels"], name))
    assert np.array_equal(case["cloud_confidence"], _grid(case["confidence"], name))


@pytest.mark.parametrize("name", ALL_CASES)
def test_mask_confidence_and_cloud_carry_one_header(contract: Contract, name: str) -> None:
    headers = contract.cases[name]["meta"]["headers"]
    assert headers["cloud_labels"] == headers["cloud_confidence"] == headers["points"], headers
    assert headers["points"][2] == "depth_optical" and headers["labels"][2] == "color_optical"


def test_label_info_reaches_a_late_transient_local_subscriber_and_lists_the_class_set(contract: Contract) -> None:
    assert contract.ready == {"ready": True, "label_info": True, "transitions": [True, True]}
    first = contract.cases["full"]["meta"]["label_info"]
    assert len(first) == 1, first  # one map, latched, sent once
    *class_map, threshold = first[0]
    assert class_map == [[i, n] for i, n in enumerate(CLASSES.names)] and threshold == 0.0
    masks = np.concatenate([contract.cases[n]["cloud_labels"].ravel() for n in CASES])
    assert set(np.unique(masks)) <= {*range(CLASSES.num_classes), CLASSES.ignore_id}


def test_the_nav2_example_defines_exactly_the_classes_the_node_lists(contract: Contract) -> None:
    layer = yaml.safe_load((REPO / "config" / "nav2_semantic_layer.yaml").read_text())
    plugin = layer["local_costmap"]["local_costmap"]["ros__parameters"]["semantic_segmentation_layer"]
    source = plugin[plugin["observation_sources"]]
    in_yaml = {name for class_type in source["class_types"] for name in source[class_type]["classes"]}
    *class_map, _ = contract.cases["full"]["meta"]["label_info"][0]
    listed = {name for _, name in class_map}
    assert listed <= in_yaml, f"the layer would log CRITICAL ERROR for {listed - in_yaml}"
    assert in_yaml <= listed, f"the example names classes the node does not have: {in_yaml - listed}"
    assert source["labels_topic"] == "/camera/segmentation/label_info" and plugin["use_approximate_time_sync"] is False


def test_min_confidence_and_publish_classes_change_the_outputs_at_run_time(contract: Contract) -> None:
    full, filtered = contract.cases["full"], contract.cases["filtered"]
    assert contract.answers["unknown class"]["set"][0][0] is False
    assert "lawn" in contract.answers["unknown class"]["set"][0][1]
    assert all(ok for ok, _ in contract.answers["filter"]["set"]), contract.answers["filter"]
    ids = [CLASSES.names.index(n) for n in contract.published]
    floor = round(contract.threshold * 255)
    keep = np.isin(full["labels"], ids) & (full["confidence"] >= floor)
    expected = np.where(keep, full["labels"], CLASSES.ignore_id)
    assert 0 < keep.sum() < keep.size, "the case must keep some pixels and filter others"
    assert np.array_equal(filtered["labels"], expected)
    assert np.array_equal(filtered["cloud_labels"], expected) and np.array_equal(filtered["label"], expected)
    assert np.array_equal(filtered["confidence"], full["confidence"])
    *class_map, threshold = filtered["meta"]["label_info"][-1]
    assert class_map == [[i, CLASSES.names[i]] for i in ids]
    assert threshold == pytest.approx(contract.threshold, abs=1e-6)
    assert f"{contract.threshold}"[:5] in contract.tools["min_confidence"], contract.tools["min_confidence"]
    assert all(repr(n) in contract.tools["publish_classes"] for n in contract.published), contract.tools


def test_ros2_topic_echo_prints_the_latched_label_info(contract: Contract) -> None:
    text = contract.tools["echo"]
    assert all(f"class_name: {n}" in text for n in contract.published), text
    assert "threshold: 0." in text and "class_name: sky" not in text, text


def test_the_nav2_launch_file_turns_the_organised_cloud_on_and_needs_a_depth_topic(contract: Contract, ros2: Ros2) -> None:  # fmt: skip
    assert "organized" in contract.tools["cloud_layout"], contract.tools["cloud_layout"]
    refused = ros2.run("launch", "lednet_ros", "segmentation_nav2.launch.py", timeout=60)
    assert refused.returncode != 0 and "needs depth_topic:=" in refused.stdout, refused.stdout
    assert "segmenting" not in refused.stdout
