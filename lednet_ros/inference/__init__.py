"""Running the network: engine options, device and precision, pixel rules, the engine, backends, CUDA graphs, export.

Imports :mod:`lednet_ros.model` (and :mod:`lednet_ros.data` for image files), never ROS.
"""
