"""The network and its weights: LEDNet, checkpoints and foreign layouts, class sets.

The lowest layer (with :mod:`lednet_ros.errors` and :mod:`lednet_ros.resources`):
it imports torch but nothing else of the package.
"""
