"""What every endpoint needs, created once per process by the app's lifespan.

Endpoints get it with :func:`context_of`; it is valid between startup and shutdown only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from porch_server.config import Settings
from porch_server.realtime.hub import Hub
from porch_server.realtime.limits import Limiter
from porch_server.realtime.status import StatusBoard
from porch_server.storage.group_commit import GroupCommit
from porch_server.storage.writer import NewPost, Written

if TYPE_CHECKING:  # the endpoint's module reads the context, so only its type is needed here
    from porch_server.transport.http.metrics import LoopLag


@dataclass(frozen=True)
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub
    #: Signs bootstrap tickets and upload tokens; loaded from (or created in) the database.
    ticket_secret: bytes
    status: StatusBoard
    #: Where visitors' and agents' messages are written, many to a transaction.
    messages: GroupCommit[NewPost, Written | None]
    #: Who may do what how often (realtime/limits.py).
    limiter: Limiter
    #: The event loop's lag, measured while ``GET /metrics`` is on (``settings.metrics``).
    lag: LoopLag | None = None

    def now_ms(self) -> int:
        return self.settings.now_ms()


def context_of(conn: HTTPConnection) -> Context:
    """The running app's :class:`Context` (from the lifespan state)."""
    return cast(Context, conn.state.porch)
