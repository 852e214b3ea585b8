"""``porch serve``/``porch demo`` with ``--ssl-certfile``/``--ssl-keyfile``: TLS in Porch itself.

The options are parsed in-process with ``_serve`` replaced (no socket is opened); the e2e suite
(tests/e2e/test_tawk_wrappers.py) runs a real ``porch demo`` over HTTPS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from porch_server import cli, demo
from porch_server.config import Settings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, Any]]:
    calls: list[tuple[Settings, Any]] = []
    monkeypatch.setattr(
        cli, "_serve", lambda settings, tls=None, workers=1: calls.append((settings, tls))
    )
    return calls


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("certificate\n")  # the options only check the files exist; uvicorn reads them
    key.write_text("key\n")
    return cert, key


def _porch(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args), prog_name="porch")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_both_files_reach_uvicorn(
    command: str, tmp_path: Path, pem: tuple[Path, Path], served: list[tuple[Settings, Any]]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}"
    result = _porch(command, "--database-url", db, "--port", "8443",
                    "--ssl-certfile", str(pem[0]), "--ssl-keyfile", str(pem[1]))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert served == [(served[0][0], pem)]
    assert served[0][0].port == 8443
    if command == "demo":
        assert result.stdout.splitlines()[1:2] == ["  Host page:      https://127.0.0.1:8443/demo/"]


def test_without_the_options_it_serves_plain_http(
    tmp_path: Path, served: list[tuple[Settings, Any]]
) -> None:
    result = _porch("serve", "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    assert result.exit_code == 0, result.output
    assert served[0][1] is None


@pytest.mark.parametrize("given", ["--ssl-certfile", "--ssl-keyfile"])
def test_one_file_without_the_other_is_refused(
    given: str, pem: tuple[Path, Path], served: list[tuple[Settings, Any]]
) -> None:
    result = _porch("serve", given, str(pem[0]))
    assert result.exit_code == 2
    assert "--ssl-certfile and --ssl-keyfile go together" in result.output
    assert served == []


def test_a_missing_file_is_refused(
    tmp_path: Path, pem: tuple[Path, Path], served: list[tuple[Settings, Any]]
) -> None:
    result = _porch("demo", "--ssl-certfile", str(tmp_path / "nope.pem"), "--ssl-keyfile",
                    str(pem[1]))  # fmt: skip
    assert result.exit_code == 2 and "does not exist" in result.output
    assert served == []


def test_the_banner_names_the_scheme() -> None:
    assert demo.banner(1, "https").splitlines()[-1] == (
        f"  Tawk.to embed:  https://127.0.0.1:1/{demo.DEMO_PROPERTY_ID}/{demo.DEMO_WIDGET_ID}"
    )


def test_several_workers_need_redis(tmp_path: Path, served: list[tuple[Settings, Any]]) -> None:
    db = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    refused = _porch("serve", "--workers", "2", *db)
    assert refused.exit_code == 2 and "needs Redis" in refused.output and served == []
    accepted = _porch("serve", "--workers", "2", "--redis-url", "redis://127.0.0.1:1/0", *db)
    assert accepted.exit_code == 0, accepted.output
    assert served[0][0].redis_url == "redis://127.0.0.1:1/0"


def test_settings_reach_worker_processes_through_the_environment(tmp_path: Path) -> None:
    """``--workers N`` starts each worker by import: the command line's settings must survive
    the trip through the environment."""
    settings = Settings(
        port=9001,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        redis_url="redis://127.0.0.1:6390/0",
        public_dir=tmp_path / "public",
        demo=True,
        ws_ping_interval=7.5,
    )
    again = Settings.from_env(settings.to_env())
    assert again.demo
    fields = ("port", "database_url", "redis_url", "public_dir", "data_dir", "ws_ping_interval")
    assert [getattr(again, f) for f in fields] == [getattr(settings, f) for f in fields]
