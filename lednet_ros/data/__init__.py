"""Data in and out: synthetic scenes, dataset layouts, rosbag2 reading and writing, image files.

Imports :mod:`lednet_ros.model` (class sets) and :mod:`lednet_ros.msgs`, never ROS or the engine.
"""
