"""A stand-in for Nav2's semantic segmentation layer's subscriptions, run by ``test_nav2_contract.py``.

Run in a process of its own with ``vision_msgs`` on its paths (the test
process never imports it: rosidl needs ``LD_LIBRARY_PATH`` from the start).
It subscribes as the layer does: the mask, the confidence and the cloud best
effort with depth 50, and LabelInfo reliable and transient local with depth 5,
created only once the node is up, so the map must come from the node's
latched sample. It also subscribes the node's full-size ``labels`` and
``confidence``, which the test compares with the cloud-sized ones.

Commands come as JSON lines on stdin, answers as JSON lines on stdout:

- ``{"set": {name: value, ...}}``: the node's parameters, in one request;
- ``{"case": NAME, "stamp": SEC, "depth": [W, H], "colour": [W, H], "seed": N}``:
  send a colour frame, an aligned depth frame (16UC1, with holes) and the
  depth camera_info, all stamped SEC, until every output of that stamp came,
  then write what was sent and received to ``OUT/NAME.npz``;
- ``{"quit": true}``.

    python nav2_layer_probe.py NAMESPACE OUT [--managed]

With ``--managed`` it first configures and activates the node (a
``segmentation_lifecycle_node``), as Nav2's lifecycle manager would.
"""

from __future__ import annotations

import array
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pointcloud2
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from vision_msgs.msg import LabelInfo

from lednet_ros.data.synthetic import street_scene

LAYER_SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
LAYER_LABEL_INFO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE,
                                  durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
INPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
FOCAL = 100.0
"""Of the colour frame; the depth camera_info is scaled to the depth frame's size."""


def stamp_of(message: Any) -> int:
    return int(message.header.stamp.sec)


class Probe:
    def __init__(self, namespace: str) -> None:
        self.node = rclpy.create_node("nav2_layer_probe")
        self.ns = namespace
        self.received: dict[str, dict[int, Any]] = {}
        layer = {"cloud_labels": Image, "cloud_confidence": Image, "points": PointCloud2}
        for name, kind in layer.items():
            self._subscribe(name, kind, LAYER_SENSOR_QOS)
        for name in ("labels", "confidence"):
            self._subscribe(name, Image, RELIABLE)
        self.label_infos: list[LabelInfo] = []
        self.image = self.node.create_publisher(Image, f"/{namespace}/image", INPUT_QOS)
        self.depth = self.node.create_publisher(Image, f"/{namespace}/depth/image", INPUT_QOS)
        self.depth_info = self.node.create_publisher(CameraInfo, f"/{namespace}/depth/camera_info", RELIABLE)
        self.params = self.node.create_client(SetParameters, f"/{namespace}/lednet_segmentation/set_parameters")

    def _subscribe(self, name: str, kind: type, qos: QoSProfile) -> None:
        box = self.received.setdefault(name, {})
        self.node.create_subscription(kind, f"/{self.ns}/segmentation/{name}",
                                      lambda m, b=box: b.__setitem__(stamp_of(m), m), qos)  # fmt: skip

    def spin_until(self, condition: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if condition():
                return True
        return False

    def bring_up(self) -> list[bool]:
        """Configure and activate the managed node, as Nav2's lifecycle manager does: whether each succeeded."""
        client = self.node.create_client(ChangeState, f"/{self.ns}/lednet_segmentation/change_state")
        if not client.wait_for_service(timeout_sec=90):
            return []
        done = []
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
            self.spin_until(future.done, 90)
            done.append(bool(future.done() and future.result().success))
        return done

    def wait_for_node(self) -> dict[str, Any]:
        """Until the node serves every subscription; then subscribe LabelInfo, as a layer that starts later does."""
        subscriptions = list(self.node.subscriptions)
        up = self.spin_until(lambda: self.depth.get_subscription_count() > 0 and self.image.get_subscription_count() > 0
                             and all(s.get_publisher_count() > 0 for s in subscriptions), 90)  # fmt: skip
        if not up:
            return {"error": "the node did not come up"}
        self.node.create_subscription(LabelInfo, f"/{self.ns}/segmentation/label_info", self.label_infos.append,
                                      LAYER_LABEL_INFO_QOS)  # fmt: skip
        got = self.spin_until(lambda: bool(self.label_infos), 30)
        return {"ready": True, "label_info": got}

    def set_parameters(self, values: dict[str, Any]) -> dict[str, Any]:
        kinds = {bool: ("bool_value", ParameterType.PARAMETER_BOOL), int: ("integer_value", ParameterType.PARAMETER_INTEGER),
                 float: ("double_value", ParameterType.PARAMETER_DOUBLE), str: ("string_value", ParameterType.PARAMETER_STRING),
                 list: ("string_array_value", ParameterType.PARAMETER_STRING_ARRAY)}  # fmt: skip
        parameters = []
        for name, value in values.items():
            field, kind = kinds[type(value)]
            parameters.append(Parameter(name=name, value=ParameterValue(type=kind, **{field: value})))
        if not self.params.wait_for_service(timeout_sec=20):
            return {"error": "no set_parameters service"}
        future = self.params.call_async(SetParameters.Request(parameters=parameters))
        self.spin_until(future.done, 20)
        results = future.result().results
        return {"set": [[r.successful, r.reason] for r in results], "label_infos": len(self.label_infos)}

    def run_case(self, case: dict[str, Any], out: Path) -> dict[str, Any]:
        stamp = int(case["stamp"])
        cw, ch = case["colour"]
        dw, dh = case["depth"]
        colour = street_scene(cw, ch, seed=int(case["seed"])).image
        rng = np.random.default_rng(int(case["seed"]))
        millimetres = rng.integers(800, 6000, (dh, dw)).astype(np.uint16)
        millimetres[: dh // 5] = 0  # no return above the horizon
        millimetres[rng.random((dh, dw)) < 0.1] = 0  # and scattered holes
        info = CameraInfo(width=dw, height=dh)
        sx, sy = dw / cw, dh / ch
        info.k = [FOCAL * sx, 0.0, cw / 2 * sx, 0.0, FOCAL * sy, ch / 2 * sy, 0.0, 0.0, 1.0]
        info.header.frame_id = "depth_optical"
        depth = Image(height=dh, width=dw, encoding="16UC1", step=2 * dw, data=array.array("B", millimetres.tobytes()))
        depth.header.stamp.sec, depth.header.frame_id = stamp, "depth_optical"
        image = Image(height=ch, width=cw, encoding="rgb8", step=3 * cw, data=array.array("B", colour.tobytes()))
        image.header.stamp.sec, image.header.frame_id = stamp, "color_optical"
        names = ("cloud_labels", "cloud_confidence", "points", "labels", "confidence")
        complete = lambda: all(stamp in self.received[n] for n in names)  # noqa: E731
        deadline = time.monotonic() + 60
        while not complete() and time.monotonic() < deadline:
            self.depth_info.publish(info)
            self.depth.publish(depth)  # a driver's order: depth, then colour
            self.image.publish(image)
            self.spin_until(complete, 1.0)
        if not complete():
            return {"error": f"missing {[n for n in names if stamp not in self.received[n]]}"}
        self.spin_until(lambda: False, 0.2)  # a LabelInfo published with the change, if any, has come by now
        got = {n: self.received[n][stamp] for n in names}
        cloud = got["points"]
        points = pointcloud2.read_points(cloud, reshape_organized_cloud=True)
        headers = {n: [got[n].header.stamp.sec, got[n].header.stamp.nanosec, got[n].header.frame_id] for n in names}
        images = {n: got[n] for n in ("cloud_labels", "cloud_confidence", "labels", "confidence")}
        meta = {
            "headers": headers,
            "images": {n: [m.width, m.height, m.step, m.encoding] for n, m in images.items()},
            "cloud": [cloud.width, cloud.height, cloud.point_step, cloud.row_step, bool(cloud.is_dense), len(cloud.data)],
            "label_info": [[[c.class_id, c.class_name] for c in m.class_map] + [m.threshold] for m in self.label_infos],
        }  # fmt: skip
        arrays = {n: np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.step) for n, m in images.items()}
        np.savez(out / f"{case['case']}.npz", depth_mm=millimetres, colour=colour, x=points["x"], y=points["y"],
                 z=points["z"], label=points["label"], meta=json.dumps(meta), **arrays)  # fmt: skip
        return {"done": case["case"]}


def main() -> int:
    namespace, out = sys.argv[1], Path(sys.argv[2])
    rclpy.init()
    probe = Probe(namespace)
    try:
        transitions = probe.bring_up() if "--managed" in sys.argv else None
        print(json.dumps({**probe.wait_for_node(), "transitions": transitions}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            answer = probe.set_parameters(command["set"]) if "set" in command else probe.run_case(command, out)
            print(json.dumps(answer), flush=True)
    finally:
        probe.node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
