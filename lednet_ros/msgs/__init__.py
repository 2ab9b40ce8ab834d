"""``sensor_msgs`` fields <-> NumPy arrays: images, depth, point clouds, cv_bridge's API, stamps.

Works on message fields (or any object with them), so it needs no rclpy: the
node, the bag tools and the tests all convert with the same code.
"""
