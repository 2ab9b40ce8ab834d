"""Measuring: metrics, offline evaluation, the replay tally, statistics, benchmarks and reports.

Imports the layers below (model, inference, msgs, data); never rclpy.
"""
