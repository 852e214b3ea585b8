"""``python -m porch_server``: the same as the ``porch-server`` command."""

import sys

from porch_server.cli import main

sys.exit(main())
