"""The finder that fetches the full standard library for an import the trimmed one lacks, driven in
CPython with zips in a temporary folder (the worker's synchronous request is a function here)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

from porch_runtime.stdlib import FullStdlibFinder


def _zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


@pytest.fixture
def zips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, list[str]]:
    """A trimmed zip alone on ``sys.path``, and a ``mount`` that writes the full one (and counts
    how often it is asked to)."""
    trimmed, full = str(tmp_path / "trimmed.zip"), str(tmp_path / "full.zip")
    _zip(Path(trimmed), {"email/__init__.py": ""})
    monkeypatch.setattr(sys, "path", [trimmed])
    monkeypatch.setattr(sys, "path_importer_cache", {})
    return trimmed, full, []


def _finder(zips: tuple[str, str, list[str]]) -> FullStdlibFinder:
    trimmed, full, mounts = zips

    def mount(path: str) -> None:
        mounts.append(path)
        _zip(Path(path), {"colorsys.py": "VALUE = 42\n", "email/extra.py": "VALUE = 7\n"})

    return FullStdlibFinder(mount, trimmed=trimmed, full=full)


def test_a_missing_stdlib_module_is_found_in_the_full_zip_mounted_once(
    zips: tuple[str, str, list[str]],
) -> None:
    trimmed, full, mounts = zips
    finder = _finder(zips)
    spec = finder.find_spec("colorsys")
    assert spec is not None and spec.origin == f"{full}/colorsys.py"
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.VALUE == 42
    assert sys.path == [trimmed, full]
    # A submodule of a package imported from the trimmed zip: found in the full one too.
    sub = finder.find_spec("email.extra", [f"{trimmed}/email"])
    assert sub is not None and sub.origin == f"{full}/email/extra.py"
    assert mounts == [full]


def test_names_outside_the_stdlib_and_modules_absent_from_both_are_not_found(
    zips: tuple[str, str, list[str]],
) -> None:
    _, full, mounts = zips
    finder = _finder(zips)
    assert finder.find_spec("porch_runtime.missing") is None
    assert mounts == []  # not a standard-library name: nothing fetched
    assert finder.find_spec("tabnanny") is None  # in neither zip
    assert mounts == [full]


def test_a_failed_fetch_is_an_import_error_that_says_why(
    zips: tuple[str, str, list[str]],
) -> None:
    trimmed, full, _ = zips

    def offline(path: str) -> None:
        raise OSError("HTTP 503")

    finder = FullStdlibFinder(offline, trimmed=trimmed, full=full)
    with pytest.raises(ImportError, match=r"colorsys is not in the trimmed.*HTTP 503"):
        finder.find_spec("colorsys")
    assert not finder.mounted
