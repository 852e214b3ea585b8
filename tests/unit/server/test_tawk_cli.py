"""``porch property ...``, the tawk.to properties' migration and the demo's property."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import run_db
from porch_server import cli, demo
from porch_server.storage import store
from porch_server.storage.migrate import alembic_config, upgrade

PROPERTY = "64f0d3e3c0ffee00000000aa"


def _porch(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args), prog_name="porch")


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    """``--database-url`` of a database with the app ``shop``."""
    option = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    created = _porch("app", "create", *option, "--appid", "shop", "--name", "S", "--domain", "s.t")
    assert created.exit_code == 0, created.output
    return option


def test_create_a_property_add_widgets_edit_and_list(db: tuple[str, str]) -> None:
    created = _porch("property", "create", *db, "--app", "shop", "--property-id", PROPERTY)
    assert created.exit_code == 0, created.output
    assert created.stdout == f"{PROPERTY}\n"
    assert "widget-add" in created.stderr

    added = _porch("property", "widget-add", *db, "--property", PROPERTY, "--widget-id", "default",
                   "--language", "zh_CN", "--position", "bl", "--colour", "#A1B2C3",
                   "--greeting", "Hi there")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stdout == "default\n"
    assert f"/{PROPERTY}/default" in added.stderr

    generated = _porch("property", "widget-add", *db, "--property", PROPERTY)
    assert generated.exit_code == 0, generated.output
    widget_id = generated.stdout.strip()
    assert re.fullmatch("1[a-z0-9]{9}", widget_id)

    edited = _porch("property", "widget-edit", *db, "--property", PROPERTY,
                    "--widget-id", "default", "--position", "tr")  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert edited.stdout == (
        f"shop\t{PROPERTY}\tdefault\tlanguage: zh-cn\tposition: tr\tcolour: #a1b2c3\t"
        "greeting: 'Hi there'\n"
    )

    listed = _porch("property", "list", *db).stdout.splitlines()
    assert listed == sorted(
        [
            f"shop\t{PROPERTY}\tdefault\tlanguage: zh-cn\tposition: tr\tcolour: #a1b2c3\t"
            "greeting: 'Hi there'",
            f"shop\t{PROPERTY}\t{widget_id}\tlanguage: en\tposition: br\tcolour: #2563eb\t"
            "greeting: ''",
        ]
    )

    async def stored(session: AsyncSession) -> tuple[str, ...]:
        found = await store.app_of_tawk_widget(session, PROPERTY, "default")
        assert found is not None
        app, widget = found
        return app.appid, widget.language, widget.position, widget.colour, widget.greeting

    assert run_db(db[1], stored) == ("shop", "zh-cn", "tr", "#a1b2c3", "Hi there")


def test_a_generated_property_id_and_list_by_app(db: tuple[str, str]) -> None:
    created = _porch("property", "create", *db, "--app", "shop")
    assert created.exit_code == 0, created.output
    property_id = created.stdout.strip()
    assert re.fullmatch("[0-9a-f]{24}", property_id)
    assert _porch("app", "create", *db, "--appid", "other", "--name", "O",
                  "--domain", "o.t").exit_code == 0  # fmt: skip
    other = _porch("property", "create", *db, "--app", "other").stdout.strip()

    assert _porch("property", "list", *db, "--app", "shop").stdout == f"shop\t{property_id}\t-\n"
    assert _porch("property", "list", *db, "--app", "other").stdout == f"other\t{other}\t-\n"
    assert len(_porch("property", "list", *db).stdout.splitlines()) == 2
    unknown = _porch("property", "list", *db, "--app", "ghost")
    assert unknown.exit_code == 2 and "no app with appid 'ghost'" in unknown.output


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("property", "create", "--app", "ghost"), "no app with appid 'ghost'"),
        (("property", "create", "--app", "shop", "--property-id", "abc"), "24 lowercase hex"),
        (("property", "create", "--app", "shop", "--property-id", PROPERTY.upper()), "lowercase"),
        (("property", "create", "--app", "shop", "--property-id", PROPERTY), "already exists"),
        (("property", "widget-add", "--property", "64f0d3e3c0ffee00000000cc"), "no property"),
        (("property", "widget-add", "--property", "nope"), "24 lowercase hex"),
        (("property", "widget-add", "--property", PROPERTY, "--widget-id", "My-Widget"),
         "lowercase letters and digits"),
        (("property", "widget-add", "--property", PROPERTY, "--widget-id", "default"),
         "already has a widget 'default'"),
        (("property", "widget-add", "--property", PROPERTY, "--language", "es"), "language"),
        (("property", "widget-add", "--property", PROPERTY, "--position", "middle"), "position"),
        (("property", "widget-add", "--property", PROPERTY, "--colour", "blue"), "colour"),
        (("property", "widget-add", "--property", PROPERTY, "--greeting", "x" * 501),
         "at most 500"),
        (("property", "widget-edit", "--property", PROPERTY, "--widget-id", "nope"),
         "has no widget 'nope'"),
        (("property", "widget-edit", "--property", PROPERTY, "--widget-id", "default",
          "--colour", "#12"), "colour"),
        (("property", "widget-edit", "--property", "64f0d3e3c0ffee00000000cc",
          "--widget-id", "default"), "no property"),
    ],
)  # fmt: skip
def test_mistakes_exit_2_and_say_what_to_change(
    db: tuple[str, str], args: tuple[str, ...], complaint: str
) -> None:
    created = _porch("property", "create", *db, "--app", "shop", "--property-id", PROPERTY)
    assert created.exit_code == 0
    assert _porch("property", "widget-add", *db, "--property", PROPERTY,
                  "--widget-id", "default").exit_code == 0  # fmt: skip
    result = _porch(*args[:2], *db, *args[2:])
    assert result.exit_code == 2, result.output
    assert complaint in result.output


def test_the_0003_migration_goes_down_and_up_keeping_apps(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    config = alembic_config(url)
    command.downgrade(config, "0002")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with engine.begin() as connection:
            assert "tawk_properties" not in inspect(connection).get_table_names()
            connection.execute(
                text(
                    "INSERT INTO apps (id, appid, name, secret, allowed_domains, created_at) "
                    "VALUES (1, 'old', 'Old', 's', '[\"old.test\"]', 0)"
                )
            )
        upgrade(url)
        with engine.begin() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"tawk_properties", "tawk_widgets"} <= tables
            connection.execute(
                text(
                    "INSERT INTO tawk_properties (id, app_id, created_at) "
                    f"VALUES ('{PROPERTY}', 1, 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO tawk_widgets (property_id, widget_id, language, position, colour, "
                    f"created_at) VALUES ('{PROPERTY}', 'default', 'en', 'br', '#2563eb', 0)"
                )
            )
            greeting = connection.execute(text("SELECT greeting FROM tawk_widgets")).scalar_one()
            assert greeting == ""
    finally:
        engine.dispose()


def test_the_demo_property_is_created_once_for_the_demo_app(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)

    async def twice(session: AsyncSession) -> tuple[str, str, str]:
        await demo.ensure_demo(session, 0)
        await demo.ensure_demo(session, 1)
        found = await store.app_of_tawk_widget(session, demo.DEMO_PROPERTY_ID, demo.DEMO_WIDGET_ID)
        assert found is not None
        app, widget = found
        listed = await store.tawk_properties(session)
        assert len(listed) == 1 and len(listed[0][2]) == 1
        return app.appid, widget.language, widget.greeting

    appid, language, greeting = run_db(url, twice)
    assert (appid, language) == (demo.DEMO_APPID, "en") and greeting


def test_demo_ids_are_what_the_docs_promise() -> None:
    assert (demo.DEMO_PROPERTY_ID, demo.DEMO_WIDGET_ID) == ("64f0d3e3c0ffee0000000001", "default")
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert demo.DEMO_PROPERTY_ID in readme and "`default`" in readme
    for line in demo.banner(8000).splitlines():
        assert line in readme


def test_the_tawk_demo_page_uses_the_dashboard_snippet_with_the_demo_ids() -> None:
    page = (Path(__file__).parents[3] / "public" / "demo" / "tawk.html").read_text()
    assert "var Tawk_API=Tawk_API||{}, Tawk_LoadStart=new Date();" in page
    assert f"s1.src=location.origin+'/{demo.DEMO_PROPERTY_ID}/{demo.DEMO_WIDGET_ID}';" in page
    assert "s1.setAttribute('crossorigin','*');" in page
