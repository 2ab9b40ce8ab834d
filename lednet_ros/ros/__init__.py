"""The ROS 2 glue: the node, its parameters and diagnostics, spinning, node processes, the bag player.

The only subpackage that imports rclpy; everything it calls below is free of it.
"""
