"""PyScript's main script for the agent console: it only imports ``console``, which runs it.

PyScript compiles a main script's source on every visit; an imported module's bytecode is the one
compiled at build time (tools/console_bytecode.py), when the console booted from the snapshot.
"""

import console  # noqa: F401
