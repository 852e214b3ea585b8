"""One fault schedule: a visitor (the real runtime) and an agent talk through a :class:`FaultProxy`
that breaks their connections on a seeded random plan; then the network heals, both must catch
up, and :func:`check` holds their views against the database.

A schedule's seed fixes the proxy's faults, the messages and their pacing; what the operating
system does with the timing is not fixed, so a failing seed is a lead, not a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field

from fault_clients import AgentClient, Changes, VisitorClient
from fault_proxy import FaultProxy

from porch_protocol import ChatMessage, ConversationHistory
from porch_runtime.core import NOT_CONNECTED, State

#: Timers (the runtime's reconnect backoff, the agent's) run at this fraction of their length.
TIME_SCALE = 0.05
#: After the network heals, both clients must have caught up within this many seconds.
CONVERGE_TIMEOUT = 45.0


@dataclass
class Outcome:
    seed: int
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    visitor_messages: int = 0
    agent_messages: int = 0
    stored: int = 0
    visitor_sockets: int = 0
    agent_sockets: int = 0


class InvariantBroken(AssertionError):
    pass


async def run_schedule(
    seed: int, server_port: int, ticket: str, token: str, db: sqlite3.Connection
) -> Outcome:
    started = time.monotonic()
    rng = random.Random(seed)
    proxy = FaultProxy(server_port, seed)
    await proxy.start()
    changes = Changes()
    visitor = VisitorClient(
        proxy.url, ticket, seed=seed, time_scale=TIME_SCALE, changes=changes
    )
    agent = AgentClient(proxy.url, token, seed=seed, time_scale=TIME_SCALE, changes=changes)
    sent: list[str] = []

    async def watch() -> None:
        await changes.until(lambda: visitor.runtime.conversation_id is not None, 120, "a chat")
        assert visitor.runtime.conversation_id is not None
        agent.watch(visitor.runtime.conversation_id)

    watching = asyncio.create_task(watch())
    try:
        agent.start()
        visitor.start()
        for i in range(rng.randint(3, 8)):
            await asyncio.sleep(rng.uniform(0, 0.3))
            visitor.seen = rng.random() < 0.7
            client_id = f"s{seed}-v{i}"
            sent.append(client_id)
            visitor.send(client_id, f"message {i} of schedule {seed}")
            if rng.random() < 0.3:
                visitor.show_all()
        await asyncio.sleep(rng.uniform(0, 0.6))  # the faults go on striking for a while
        proxy.heal()
        await asyncio.wait_for(watching, CONVERGE_TIMEOUT)

        while True:
            try:
                await changes.until(
                    lambda: not _lag(visitor, agent, sent), CONVERGE_TIMEOUT, "caught up"
                )
            except TimeoutError:
                raise InvariantBroken(
                    f"seed {seed}: not caught up {CONVERGE_TIMEOUT}s after the network healed: "
                    + _lag(visitor, agent, sent)
                ) from None
            _check_unread(seed, visitor)
            # The last reads, then a request: its answer means the server has handled every
            # frame sent before it on that socket, the read position included. A link the heal
            # closed may still have been the visitor's: the request then fails NOT_CONNECTED
            # (never sent twice), and the host page asks again once connected.
            visitor.seen = True
            visitor.show_all()
            sync = visitor.command("visitor.event", {"name": "sync", "metadata": {}})
            await changes.until(lambda: sync in visitor.results, CONVERGE_TIMEOUT, "sync")  # noqa: B023
            error = visitor.results[sync]["error"]
            if error is None:
                break
            if error != NOT_CONNECTED:
                raise InvariantBroken(f"seed {seed}: sync failed: {visitor.results[sync]}")
        while True:
            # The history may bring a message this console missed live (a system message
            # published while it reconnected): it reads that too, and asks again.
            read = agent.read_seq
            history = await asyncio.wait_for(agent.history(), CONVERGE_TIMEOUT)
            if agent.read_seq == read:
                break
        stored = check(seed, db, visitor, agent, history, sent)
    finally:
        watching.cancel()
        await visitor.aclose()
        await agent.aclose()
        await proxy.aclose()
    faults = Counter(proxy.counts.faults or {})
    return Outcome(
        seed=seed,
        seconds=time.monotonic() - started,
        faults=faults,
        connections=proxy.counts.connections,
        visitor_messages=len(sent),
        agent_messages=len(agent.acked),
        stored=stored,
        visitor_sockets=visitor.sockets_opened,
        agent_sockets=agent.sockets_opened,
    )


def _lag(visitor: VisitorClient, agent: AgentClient, sent: list[str]) -> str:
    """What keeps the two sides from having caught up ("" once they have): every message
    acknowledged on both sides and delivered to the other, and no client anywhere but
    connected."""
    runtime = visitor.runtime
    if runtime.state is not State.READY or runtime.outbox:
        return f"visitor {runtime.state.value}, outbox {list(runtime.outbox)}"
    if not agent.welcomed or agent.outbox:
        return f"agent welcomed={agent.welcomed}, outbox {list(agent.outbox)}"
    mine = {m.client_id: m for m in runtime.messages.values() if m.author == "visitor"}
    unacked = [c for c in sent if c not in mine]
    unanswered = [c for c in sent if f"re-{c}" not in agent.acked]
    to_visitor = sorted(m.seq for m in agent.acked.values() if m.id not in runtime.messages)
    to_agent = sorted(m.seq for m in mine.values() if m.id not in agent.view)
    if unacked or unanswered or to_visitor or to_agent:
        return (
            f"visitor messages not acked {unacked}, not answered {unanswered}; seqs not "
            f"delivered to the visitor {to_visitor}, to the agent {to_agent}"
        )
    return ""


def _check_unread(seed: int, visitor: VisitorClient) -> None:
    """The unread count is the agents' messages shown but not seen, and the host page was told
    that very number last."""
    runtime = visitor.runtime
    expected = sum(
        1
        for m in runtime.messages.values()
        if m.author == "agent" and runtime.read_seq < m.seq <= runtime.shown_seq
    )
    told = [p["count"] for name, p in visitor.events if name == "unread_count_changed"]
    if runtime.unread != expected or (told and told[-1] != expected):
        raise InvariantBroken(
            f"seed {seed}: unread {runtime.unread}, told {told[-1:]}, expected {expected}"
        )


def check(
    seed: int,
    db: sqlite3.Connection,
    visitor: VisitorClient,
    agent: AgentClient,
    history: ConversationHistory,
    sent: list[str],
) -> int:
    """The invariants, against the database; returns how many messages the chat holds."""
    runtime = visitor.runtime
    conversation_id = runtime.conversation_id
    db.rollback()  # a fresh read snapshot
    rows = db.execute(
        "SELECT id, seq, author, client_id, text FROM messages WHERE conversation_id = ?"
        " ORDER BY seq",
        (conversation_id,),
    ).fetchall()
    problems: list[str] = []
    seqs = [row[1] for row in rows]
    if seqs != list(range(1, len(rows) + 1)):
        problems.append(f"seqs are not 1..{len(rows)}: {seqs}")
    by_client = Counter((row[2], row[3]) for row in rows if row[3] is not None)
    for client_id in sent:
        for key in (("visitor", client_id), ("agent", f"re-{client_id}")):
            if by_client[key] != 1:
                problems.append(f"{key} stored {by_client[key]} times")
    unknown = [k for k in by_client if k[1] not in sent and k[1][3:] not in sent]
    if unknown:
        problems.append(f"stored messages nobody sent: {unknown}")
    stored = {row[0]: (row[1], row[2], row[4]) for row in rows}

    def view_of(messages: dict[str, ChatMessage]) -> dict[str, tuple[int, str, str]]:
        return {
            i: (m.seq, m.author, m.text)
            for i, m in messages.items()
            if m.conversation_id == conversation_id
        }

    if view_of(runtime.messages) != stored:
        problems.append(f"the visitor's view differs: {_diff(view_of(runtime.messages), stored)}")
    if view_of(agent.view) != stored:
        problems.append(f"the agent's view differs: {_diff(view_of(agent.view), stored)}")
    if [m.id for m in history.messages] != [row[0] for row in rows]:
        problems.append("the history is not the stored messages in seq order")
    twice = [i for i, n in visitor.announced.items() if n > 1]
    if twice:
        problems.append(f"announced to the host page more than once: {twice}")
    visitor_read, agent_read, last_seq = db.execute(
        "SELECT visitor_read_seq, agent_read_seq, last_seq FROM conversations WHERE id = ?",
        (conversation_id,),
    ).fetchone()
    if last_seq != len(rows):
        problems.append(f"last_seq {last_seq} for {len(rows)} messages")
    if not visitor_read == runtime.read_seq == runtime.last_seq == last_seq:
        problems.append(
            f"visitor read: stored {visitor_read}, runtime {runtime.read_seq}"
            f" (last {runtime.last_seq} of {last_seq})"
        )
    if runtime.unread != 0:
        problems.append(f"unread {runtime.unread} after reading everything")
    if agent_read != agent.read_seq or agent.read_seq != last_seq:
        problems.append(f"agent read: stored {agent_read}, agent {agent.read_seq} of {last_seq}")
    if runtime.agent_read_seq > agent_read:
        problems.append(f"the visitor saw a receipt {runtime.agent_read_seq} > {agent_read}")
    if problems:
        raise InvariantBroken(f"seed {seed}: " + "; ".join(problems))
    return len(rows)


def _diff(view: dict[str, tuple[int, str, str]], stored: dict[str, tuple[int, str, str]]) -> str:
    missing = sorted(stored[i] for i in stored.keys() - view.keys())
    extra = sorted(view[i][0] for i in view.keys() - stored.keys())
    changed = sorted(i for i in view.keys() & stored.keys() if view[i] != stored[i])
    return f"missing seqs {missing}, extra seqs {extra}, changed {changed}"


async def run_many(
    seeds: list[int], parallel: int, server_port: int, ticket: str, token: str, db_path: str
) -> list[Outcome]:
    """Run the schedules ``parallel`` at a time (each its own proxy, visitor and agent)."""
    gate = asyncio.Semaphore(parallel)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)

    async def one(seed: int) -> Outcome:
        async with gate:
            return await run_schedule(seed, server_port, ticket, token, db)

    try:
        tasks = [asyncio.create_task(one(seed)) for seed in seeds]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        db.close()
