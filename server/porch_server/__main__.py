"""``python -m porch_server``: the same as the ``porch`` command."""

from porch_server.cli import main

main(prog_name="porch")
