"""``python -m lednet_ros``: the ``lednet-ros`` command.

Run from a fresh checkout with a bare ``python3``, it first creates the
repository's ``.venv`` (see :mod:`lednet_ros._bootstrap`) and re-runs itself
there; inside an environment that has the dependencies it goes straight on.
"""

from lednet_ros._bootstrap import ensure_dependencies

ensure_dependencies()

import sys  # noqa: E402 (after the environment check on purpose)

from lednet_ros.commands.main import main  # noqa: E402

sys.exit(main())
