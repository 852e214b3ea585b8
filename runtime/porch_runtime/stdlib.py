"""The rest of the standard library, fetched on the first import that needs it.

A runtime restored from the build's memory snapshot boots with a trimmed standard library
(``tools/build_snapshot.py``): the snapshot already holds what the runtime imports, so the zip
holds little more. Any other standard-library module must still import. :class:`FullStdlibFinder`,
the last finder on ``sys.meta_path``, sees only what every other finder missed: for a
standard-library name it has the full zip mounted (once; the worker fetches it), puts it on
``sys.path`` after the trimmed one and finds the module there.

Pure Python: how the full zip arrives is the caller's ``mount`` (the worker's synchronous request).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

#: Where Pyodide puts the standard library it boots with (``/lib/python3XY.zip``, on ``sys.path``).
STDLIB_ZIP = f"/lib/python{sys.version_info.major}{sys.version_info.minor}.zip"
#: Where the full standard library goes when an import needs it.
FULL_STDLIB_ZIP = "/lib/python_stdlib_full.zip"


class FullStdlibFinder:
    """A ``sys.meta_path`` finder for standard-library modules the trimmed zip lacks."""

    def __init__(
        self, mount: Callable[[str], None], trimmed: str = STDLIB_ZIP, full: str = FULL_STDLIB_ZIP
    ) -> None:
        self._mount = mount
        self._trimmed = trimmed
        self._full = full
        self.mounted = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in sys.stdlib_module_names:
            return None
        if not self.mounted:
            try:
                self._mount(self._full)
            except Exception as exc:
                raise ImportError(
                    f"{fullname} is not in the trimmed standard library and the full one could "
                    f"not be fetched: {exc}",
                    name=fullname,
                ) from exc
            where = sys.path.index(self._trimmed) + 1 if self._trimmed in sys.path else 0
            sys.path.insert(where, self._full)
            self.mounted = True
        if path is not None:
            # A submodule of a package imported from the trimmed zip: look in the full one too.
            inside = [p[len(self._trimmed) :] for p in path if p.startswith(self._trimmed + "/")]
            path = [*path, *(self._full + rest for rest in inside)]
        return PathFinder.find_spec(fullname, path, target)


def install(mount: Callable[[str], None]) -> FullStdlibFinder:
    """Put a :class:`FullStdlibFinder` last on ``sys.meta_path``; ``mount(path)`` must write the
    full standard-library zip at ``path``."""
    finder = FullStdlibFinder(mount)
    sys.meta_path.append(finder)
    return finder
