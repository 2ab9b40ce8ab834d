"""Running the network: engine options, device and precision, the engine, backends, CUDA graphs.

Imports :mod:`lednet_ros.model` (and :mod:`lednet_ros.data` for image files), never ROS.
"""
