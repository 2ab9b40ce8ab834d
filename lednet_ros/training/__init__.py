"""Training LEDNet with the authors' recipe: the library behind ``lednet-ros train``.

:mod:`~lednet_ros.training.config` holds the settings of a run (the one
definition of the training defaults), :mod:`~lednet_ros.training.recipe` the
pieces of the authors' recipe, :mod:`~lednet_ros.training.trainer` the run
itself and :mod:`~lednet_ros.training.outputs` the files it leaves behind.

Imports the layers below (model, data, inference, evaluation); never rclpy.
This package module imports nothing, so the command's ``--help`` needs no torch.
"""
