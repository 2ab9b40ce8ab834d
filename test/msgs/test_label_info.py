"""The class filter (min_confidence, publish_classes), LabelInfo's content, and the Nav2 example's class names.

The LabelInfo message itself is built in a child process that has
``vision_msgs`` on its paths (:mod:`vision_msgs_env`); the node end to end,
over DDS with the layer's QoS, is in ``test/ros/test_nav2_contract.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from vision_msgs_env import REPO, environment

from lednet_ros.errors import LednetError
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.class_filter import ClassFilter, confidence_floor, published_class_ids
from lednet_ros.msgs.label_info import label_info_content
from lednet_ros.resources import config_file

CITYSCAPES = load_class_config(config_file("cityscapes.yaml"))
NAV2_EXAMPLE = REPO / "config" / "nav2_semantic_layer.yaml"


def test_publish_classes_names_train_ids_and_blank_means_all() -> None:
    assert published_class_ids(CITYSCAPES, [""]) == published_class_ids(CITYSCAPES, []) == tuple(range(19))
    assert published_class_ids(CITYSCAPES, ["sidewalk", "road", "traffic light"]) == (0, 1, 6)
    with pytest.raises(LednetError, match=r"'Road', 'lawn' not in the class set 'cityscapes' \(road, sidewalk"):
        published_class_ids(CITYSCAPES, ["road", "Road", "lawn"])


@pytest.mark.parametrize(("threshold", "floor"), [(0.0, 0), (0.2, 51), (0.5, 128), (0.999, 255), (1.0, 255)])
def test_the_threshold_is_compared_at_the_confidence_image_s_8_bits(threshold: float, floor: int) -> None:
    assert confidence_floor(threshold) == floor
    labels = np.full((1, 256), 7, np.uint8)
    confidence = np.arange(256, dtype=np.uint8)[np.newaxis, :]
    kept = ClassFilter.from_parameters(CITYSCAPES, [""], threshold).apply(labels, confidence)
    assert np.array_equal(kept == 7, confidence >= floor)


def test_the_filter_keeps_only_published_confident_pixels_and_never_touches_its_input() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 19, (48, 64), dtype=np.uint8)
    labels[0, :8] = 255  # the network's own void stays void
    confidence = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    before = labels.copy()
    both = ClassFilter.from_parameters(CITYSCAPES, ["road", "sidewalk"], 0.6)
    out = both.apply(labels, confidence)
    expected = np.where(np.isin(labels, [0, 1]) & (confidence >= 153), labels, 255)
    assert np.array_equal(out, expected) and np.array_equal(labels, before)
    assert both.active and both.needs_confidence
    classes_only = ClassFilter.from_parameters(CITYSCAPES, ["car"], 0.0)
    assert np.array_equal(classes_only.apply(labels, None), np.where(labels == 13, 13, 255))
    assert not classes_only.needs_confidence
    off = ClassFilter.from_parameters(CITYSCAPES, [""], 0.0)
    assert not off.active and off.apply(labels, None) is labels  # off: no copy, no cost
    with pytest.raises(ValueError, match="needs a confidence image"):
        both.apply(labels, None)
    with pytest.raises(LednetError, match="min_confidence must be in 0-1"):
        ClassFilter.from_parameters(CITYSCAPES, [""], 1.5)


def test_label_info_lists_the_published_classes_without_the_ignore_id() -> None:
    everything = label_info_content(ClassFilter.from_parameters(CITYSCAPES, [""], 0.0))
    assert everything.class_map == tuple(enumerate(CITYSCAPES.names)) and everything.threshold == 0.0
    assert all(class_id != CITYSCAPES.ignore_id for class_id, _ in everything.class_map)
    some = label_info_content(ClassFilter.from_parameters(CITYSCAPES, ["sidewalk", "road"], 0.25))
    assert some.class_map == ((0, "road"), (1, "sidewalk")) and some.threshold == 0.25


def nav2_example_classes() -> list[str]:
    """Every class name the Nav2 example's layer source defines, in file order."""
    layer = yaml.safe_load(NAV2_EXAMPLE.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]
    plugin = layer["semantic_segmentation_layer"]
    source = plugin[plugin["observation_sources"]]
    return [name for class_type in source["class_types"] for name in source[class_type]["classes"]]


def test_the_nav2_example_and_the_class_set_agree_both_ways() -> None:
    """Every name in the example is a class; every class LabelInfo lists (all, by default) is in the example once."""
    names = nav2_example_classes()
    assert sorted(set(names)) == sorted(names), "a class in two class types"
    assert set(names) <= set(CITYSCAPES.names), set(names) - set(CITYSCAPES.names)
    listed = label_info_content(ClassFilter.from_parameters(CITYSCAPES, [""], 0.0)).names()
    assert set(listed) <= set(names), set(listed) - set(names)
    layer = yaml.safe_load(NAV2_EXAMPLE.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]
    plugin = layer["semantic_segmentation_layer"]
    assert plugin["use_approximate_time_sync"] is False
    source = plugin["camera"]
    assert all(source[key].startswith("/") for key in
               ("segmentation_topic", "confidence_topic", "pointcloud_topic", "labels_topic"))  # fmt: skip
    assert {"road", "sidewalk"} <= set(source["traversable"]["classes"]) and source["traversable"]["max_cost"] == 0
    assert {"person", "rider", "car"} <= set(source["dynamic_obstacle"]["classes"])
    assert source["dynamic_obstacle"]["base_cost"] == 254


def test_the_message_is_a_real_vision_msgs_label_info() -> None:
    """Built by label_info_message in a process with vision_msgs on its paths, read back field by field."""
    code = textwrap.dedent("""
        import json
        from std_msgs.msg import Header
        from vision_msgs.msg import LabelInfo
        from lednet_ros.model.classes import load_class_config
        from lednet_ros.msgs.class_filter import ClassFilter
        from lednet_ros.msgs.label_info import label_info_content, label_info_message, vision_msgs_problem
        assert vision_msgs_problem() is None
        header = Header(frame_id="cam")
        classes = load_class_config()
        message = label_info_message(header, label_info_content(ClassFilter.from_parameters(classes, ["car", "road"], 0.5)))
        assert isinstance(message, LabelInfo)
        print(json.dumps({"frame": message.header.frame_id, "threshold": message.threshold,
                          "map": [[c.class_id, c.class_name] for c in message.class_map]}))
    """)
    result = subprocess.run([sys.executable, "-c", code], env=environment(), capture_output=True, text=True,
                            timeout=60, check=False, cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"frame": "cam", "threshold": 0.5,
                                                          "map": [[0, "road"], [13, "car"]]}  # fmt: skip


def test_without_vision_msgs_the_problem_is_said_not_raised() -> None:
    code = "from lednet_ros.msgs.label_info import vision_msgs_problem; print(vision_msgs_problem())"
    env = {k: v for k, v in environment().items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            check=False, cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "vision_msgs is not importable" in result.stdout
