"""The demo app and agent that ``porch demo`` creates, as fixed, documented constants.

The secret is public on purpose: scripts and tests sign demo business logins with it
(``porch_server.signing.sign_business_user(DEMO_SECRET, sbs, ranstr, name=...)``, with a fresh
``ranstr = f"{int(time.time())}.{secrets.token_urlsafe(16)}"`` each time: docs/protocol.md,
"Signatures"). Never reuse it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from porch_server import store
from porch_server.security import hash_password, verify_password

DEMO_APPID = "porch-demo"
DEMO_APP_NAME = "Porch demo"
DEMO_DOMAINS = ("127.0.0.1", "localhost")
DEMO_SECRET = "porch-demo-secret"
DEMO_AGENT_EMAIL = "agent@porch.demo"
DEMO_AGENT_PASSWORD = "porch-demo"
DEMO_AGENT_NAME = "Demo Agent"


def banner(port: int) -> str:
    """The lines ``porch demo`` prints before serving."""
    return "\n".join(
        (
            "Porch demo is running.",
            f"  Host page:      http://127.0.0.1:{port}/demo/",
            f"  Agent console:  http://127.0.0.1:{port}/agent/",
            f"  Agent login:    {DEMO_AGENT_EMAIL} / {DEMO_AGENT_PASSWORD}",
        )
    )


async def ensure_demo(session: AsyncSession, now_ms: int) -> None:
    """Create the demo app and its admin agent unless they exist, and reset the agent's password
    and role if someone changed them (or an older release hashed it differently); commits."""
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
    await session.commit()
