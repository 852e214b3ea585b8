"""Agent presence and the page status visitors see, pushed as ``status.changed`` when it changes.

An agent's presence is what they chose (``presence.set``, stored on the agent) while they have a
socket open, ``offline`` otherwise; the hub knows who has a socket. The page status follows from
the presences and the app's business hours (:func:`porch_server.rules.apps.page_status`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from porch_protocol import AgentInfo, PageStatusChanged
from porch_protocol.wire import Status
from porch_server.realtime.hub import Channel, Hub
from porch_server.rules.apps import hours_from_json, page_status
from porch_server.storage import records, store
from porch_server.storage.models import Agent, App

log = logging.getLogger(__name__)


async def agent_info(hub: Hub, agent: Agent) -> AgentInfo:
    """The agent as colleagues see them, with their effective presence."""
    connected = await hub.listener_count(Channel.agent(agent.id)) > 0
    return records.agent_info(agent, connected)


async def team(session: AsyncSession, hub: Hub, app_id: int) -> list[AgentInfo]:
    return [await agent_info(hub, a) for a in await store.agents_of_app(session, app_id)]


async def current_status(session: AsyncSession, hub: Hub, app: App, now_ms: int) -> Status:
    """The page status of ``app`` now."""
    presences = [info.presence for info in await team(session, hub, app.id)]
    return page_status(hours_from_json(app.business_hours), presences, now_ms)


class StatusMemory(Protocol):
    """What page status each app's visitors were last told. In one process a dict
    (:class:`LocalStatusMemory`); across processes Redis
    (:class:`~porch_server.realtime.redis_hub.RedisStatusMemory`), so a change is pushed once
    however many processes notice it."""

    async def told(self, app_id: int, status: str) -> None:
        """A visitor was just told ``status`` in a welcome: remember it unless something is."""
        ...

    async def swap(self, app_id: int, status: str) -> str | None:
        """Remember ``status``; return what was remembered before (None: nothing)."""
        ...

    async def apps(self) -> list[int]:
        """Every app whose status is remembered."""
        ...

    async def lead(self, seconds: float) -> bool:
        """Whether this process runs the periodic check for the next ``seconds``."""
        ...

    async def aclose(self) -> None: ...


class LocalStatusMemory:
    def __init__(self) -> None:
        self._told: dict[int, str] = {}

    async def told(self, app_id: int, status: str) -> None:
        self._told.setdefault(app_id, status)

    async def swap(self, app_id: int, status: str) -> str | None:
        previous = self._told.get(app_id)
        self._told[app_id] = status
        return previous

    async def apps(self) -> list[int]:
        return list(self._told)

    async def lead(self, seconds: float) -> bool:
        return True

    async def aclose(self) -> None:
        pass


class StatusBoard:
    """Pushes ``status.changed`` to an app's visitors when its page status changes."""

    def __init__(self, memory: StatusMemory | None = None) -> None:
        self.memory: StatusMemory = LocalStatusMemory() if memory is None else memory

    async def told(self, app_id: int, status: Status) -> None:
        """A visitor of the app was just told ``status`` (in its welcome)."""
        await self.memory.told(app_id, status)

    async def refresh(
        self, sessions: async_sessionmaker[AsyncSession], hub: Hub, app_id: int, now_ms: int
    ) -> None:
        """Recompute the app's page status; push ``status.changed`` to its visitors when it is
        not what they were last told. Call after anything that may change it."""
        async with sessions() as session:
            app = await session.get(App, app_id)
            if app is None:
                return
            status = await current_status(session, hub, app, now_ms)
        if await self.memory.swap(app_id, status) == status:
            return
        await hub.publish(Channel.visitors(app_id), [PageStatusChanged(status=status)])

    async def watch(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: Hub,
        now_ms: Callable[[], int],
        interval: float,
    ) -> None:
        """Refresh every known app each ``interval`` seconds, so opening and closing times
        (and agents of a process that died) reach visitors without anyone acting; runs until
        cancelled. With several processes, one of them does it."""
        while True:
            await anyio.sleep(interval)
            try:
                if not await self.memory.lead(interval * 3):
                    continue
                app_ids = await self.memory.apps()
            except Exception:
                log.exception("the page status memory is unavailable")
                continue
            for app_id in app_ids:
                try:
                    await self.refresh(sessions, hub, app_id, now_ms())
                except Exception:  # one app's failure must not stop the others' updates
                    log.exception("refreshing the page status of app %d failed", app_id)
