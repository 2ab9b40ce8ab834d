"""The ``lednet-ros`` subcommands: argparse and printing, calling typed library functions.

The top layer: nothing below imports it, and a command imports no other
command, only :mod:`lednet_ros.commands.args`.
"""
