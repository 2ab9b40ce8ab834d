"""lednet_ros: LEDNet semantic segmentation for ROS 2.

The core (model, checkpoints, engine, class sets, synthetic scenes) is plain
Python/NumPy/PyTorch and never imports rclpy; the ROS node is a thin layer
on top. Import the submodules you need, e.g. ``from lednet_ros.inference.engine import
SegmentationEngine``; this file stays import-free so ``python -m lednet_ros``
can set up an environment before anything heavy is imported.
"""

__version__ = "0.1.0"
