"""Many bags at once: evaluation, labelling and mining over a fleet's archive, in-process or on a Ray cluster.

A floor of its own between ``evaluation``/``training`` and ``commands``: it is
the only place that imports Ray, and only inside functions, so a command that
never asks for a cluster never loads it.
"""
