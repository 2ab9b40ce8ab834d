"""lednet_ros: LEDNet semantic segmentation for ROS 2.

The subpackages are layers, lowest first: ``model`` (network, weights, class
sets), ``msgs`` (message fields <-> arrays), ``data`` (synthetic scenes,
datasets, bags), ``inference`` (options, engine, backends), ``evaluation``
(metrics, reports), ``training``, ``ros`` (the node; the only layer that
imports rclpy) and ``commands`` (``lednet-ros``). Import what you need, e.g.
``from lednet_ros.inference.engine import SegmentationEngine``; this file
stays import-free so ``python -m lednet_ros`` can set up an environment
before anything heavy is imported.
"""

__version__ = "0.1.0"
