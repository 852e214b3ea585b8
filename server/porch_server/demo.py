"""The demo app, agent and tawk.to property that ``porch demo`` creates, as fixed, documented
constants.

The secret is public on purpose: scripts and tests sign demo business logins with it
(``porch_server.rules.signing.sign_business_user(DEMO_SECRET, sbs, ranstr, name=...)``, with a fresh
``ranstr = f"{int(time.time())}.{secrets.token_urlsafe(16)}"`` each time: docs/protocol.md,
"Signatures"). Never reuse it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from porch_server.rules import properties
from porch_server.rules.security import hash_password, verify_password
from porch_server.storage import store

DEMO_APPID = "porch-demo"
DEMO_APP_NAME = "Porch demo"
DEMO_DOMAINS = ("127.0.0.1", "localhost")
DEMO_SECRET = "porch-demo-secret"
DEMO_AGENT_EMAIL = "agent@porch.demo"
DEMO_AGENT_PASSWORD = "porch-demo"
DEMO_AGENT_NAME = "Demo Agent"
#: The demo app's tawk.to property and widget: tawk.to's snippet with the URL
#: ``<server>/DEMO_PROPERTY_ID/DEMO_WIDGET_ID`` chats with the demo app.
DEMO_PROPERTY_ID = "64f0d3e3c0ffee0000000001"
DEMO_WIDGET_ID = "default"
DEMO_WIDGET = properties.WidgetSettings(greeting="Hi! Questions about the demo shop? Ask us here.")


def banner(port: int, scheme: str = "http") -> str:
    """The lines ``porch demo`` prints before serving (``scheme`` https with TLS)."""
    origin = f"{scheme}://127.0.0.1:{port}"
    return "\n".join(
        (
            "Porch demo is running.",
            f"  Host page:      {origin}/demo/",
            f"  Agent console:  {origin}/agent/",
            f"  Agent login:    {DEMO_AGENT_EMAIL} / {DEMO_AGENT_PASSWORD}",
            f"  Tawk.to page:   {origin}/demo/tawk.html",
            f"  Tawk.to embed:  {origin}/{DEMO_PROPERTY_ID}/{DEMO_WIDGET_ID}",
        )
    )


async def ensure_demo(session: AsyncSession, now_ms: int) -> None:
    """Create the demo app, its admin agent and its tawk.to property and widget unless they
    exist, and reset the agent's password and role if someone changed them (or an older release
    hashed it differently); commits. The widget's settings, like the app's, are left as edited."""
    app = await store.app_by_appid(session, DEMO_APPID)
    if app is None:
        app = await store.create_app(
            session,
            appid=DEMO_APPID,
            name=DEMO_APP_NAME,
            allowed_domains=DEMO_DOMAINS,
            secret=DEMO_SECRET,
            now_ms=now_ms,
        )
    agent = await store.agent_by_email(session, DEMO_AGENT_EMAIL)
    if agent is None:
        await store.create_agent(
            session,
            app=app,
            email=DEMO_AGENT_EMAIL,
            name=DEMO_AGENT_NAME,
            password_hash=hash_password(DEMO_AGENT_PASSWORD),
            now_ms=now_ms,
            role="admin",
        )
    else:
        agent.role = "admin"
        if not verify_password(DEMO_AGENT_PASSWORD, agent.password_hash):
            agent.password_hash = hash_password(DEMO_AGENT_PASSWORD)
    prop = await store.tawk_property(session, DEMO_PROPERTY_ID)
    if prop is None:
        prop = await store.create_tawk_property(session, app, DEMO_PROPERTY_ID, now_ms)
    else:
        prop.app_id = app.id
    if await store.tawk_widget(session, DEMO_PROPERTY_ID, DEMO_WIDGET_ID) is None:
        await store.create_tawk_widget(session, prop, DEMO_WIDGET_ID, DEMO_WIDGET, now_ms)
    await session.commit()
