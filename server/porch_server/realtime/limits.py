"""Abuse limits: how often one account, address, visitor or socket may do a costly thing.

Every limit is a token bucket (:class:`Rate`: ``burst`` at once, the whole burst back after
``per_seconds``), except connections per address, which is a count of open sockets. Endpoints
ask the :class:`Limiter` and answer a refusal themselves (HTTP 429 with ``Retry-After``; a
non-fatal ``rate_limited`` error on a socket; close 1013 for a socket that may not open).

:class:`Limiter` is the interface; :class:`MemoryLimiter` serves one process, and
``realtime.redis_hub.RedisLimiter`` keeps the same buckets in Redis for several. Its methods
are coroutines so that the shared one can await its store.

What each limit is for and its default: docs/security.md ("Abuse limits"). ``PORCH_LIMITS``
overrides them: ``"login_per_address=30/900 connections_per_address=64"``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Rule(enum.Enum):
    """The rate limits; each value is its name in ``PORCH_LIMITS``."""

    #: Failed agent logins for one email (guessing one account's password).
    LOGIN_PER_ACCOUNT = "login_per_account"
    #: Failed agent logins from one address (guessing many accounts; argon2 costs CPU).
    LOGIN_PER_ADDRESS = "login_per_address"
    #: ``message.send`` frames on one visitor socket.
    MESSAGES_PER_CONNECTION = "messages_per_connection"
    #: ``message.send`` frames of one visitor, all tabs together.
    MESSAGES_PER_VISITOR = "messages_per_visitor"
    #: Visitors created from one address (each is a row and a conversation list entry).
    NEW_VISITORS_PER_ADDRESS = "new_visitors_per_address"
    #: Files one visitor uploads.
    UPLOADS_PER_VISITOR = "uploads_per_visitor"


@dataclass(frozen=True)
class Rate:
    """``burst`` actions at once, then one every ``per_seconds / burst`` seconds."""

    burst: int
    per_seconds: float


#: Open WebSockets per address, visitor and agent sockets together.
CONNECTIONS_PER_ADDRESS = "connections_per_address"


def _default_rates() -> dict[Rule, Rate]:
    return {
        Rule.LOGIN_PER_ACCOUNT: Rate(10, 900),
        Rule.LOGIN_PER_ADDRESS: Rate(30, 900),
        Rule.MESSAGES_PER_CONNECTION: Rate(20, 4),
        Rule.MESSAGES_PER_VISITOR: Rate(40, 4),
        Rule.NEW_VISITORS_PER_ADDRESS: Rate(120, 60),
        Rule.UPLOADS_PER_VISITOR: Rate(20, 60),
    }


@dataclass(frozen=True)
class Limits:
    """The configured limits (defaults in :func:`_default_rates`)."""

    rates: dict[Rule, Rate] = field(default_factory=_default_rates)
    connections_per_address: int = 256

    def __str__(self) -> str:
        """The ``PORCH_LIMITS`` form, which :meth:`parse` reads back (``Settings.to_env`` hands
        it to ``porch serve --workers``' processes)."""
        rates = [f"{rule.value}={r.burst}/{r.per_seconds}" for rule, r in self.rates.items()]
        return " ".join([*rates, f"{CONNECTIONS_PER_ADDRESS}={self.connections_per_address}"])

    @classmethod
    def parse(cls, text: str) -> Limits:
        """``"name=burst/seconds ..."`` (``connections_per_address=N``) over the defaults;
        raises ValueError naming what does not parse."""
        rates = _default_rates()
        connections = cls().connections_per_address
        for item in text.replace(",", " ").split():
            name, _, value = item.partition("=")
            try:
                if name == CONNECTIONS_PER_ADDRESS:
                    connections = int(value)
                    if connections < 1:
                        raise ValueError
                    continue
                burst, _, seconds = value.partition("/")
                rate = Rate(int(burst), float(seconds))
                if rate.burst < 1 or not rate.per_seconds > 0 or math.isinf(rate.per_seconds):
                    raise ValueError
                rates[Rule(name)] = rate
            except ValueError:
                known = ", ".join([*(r.value for r in Rule), CONNECTIONS_PER_ADDRESS])
                raise ValueError(
                    f"{item!r}: expected name=burst/seconds (name one of {known}) or "
                    f"{CONNECTIONS_PER_ADDRESS}=N, with positive numbers"
                ) from None
        return cls(rates, connections)


class Limiter(Protocol):
    async def take(self, rule: Rule, key: str) -> float:
        """Count one action of ``key`` under ``rule``: 0.0 when allowed, else the seconds until
        one will be (nothing is counted then)."""
        ...

    async def wait(self, rule: Rule, key: str) -> float:
        """What :meth:`take` would answer, counting nothing (for limits that count failures:
        ask first, take when the attempt failed)."""
        ...

    async def open_connection(self, address: str) -> bool:
        """Count an open socket from ``address``; False (nothing counted) when it has too many.
        Each True must be matched by one :meth:`close_connection`."""
        ...

    async def close_connection(self, address: str) -> None: ...


#: Buckets kept before full ones are forgotten (a full bucket is the same as no bucket).
_SWEEP_AT = 10_000


class MemoryLimiter:
    """:class:`Limiter` for one process. ``clock`` is seconds (``Settings.clock``), so tests
    move time instead of sleeping."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        #: (rule, key) -> (tokens left, when they were counted)
        self._buckets: dict[tuple[Rule, str], tuple[float, float]] = {}
        self._connections: dict[str, int] = {}

    async def take(self, rule: Rule, key: str) -> float:
        tokens, refill, now = self._tokens(rule, key)
        if tokens < 1:
            return (1 - tokens) / refill
        if len(self._buckets) >= _SWEEP_AT:
            self._sweep(now)
        self._buckets[(rule, key)] = (tokens - 1, now)
        return 0.0

    async def wait(self, rule: Rule, key: str) -> float:
        tokens, refill, _ = self._tokens(rule, key)
        return 0.0 if tokens >= 1 else (1 - tokens) / refill

    def _tokens(self, rule: Rule, key: str) -> tuple[float, float, float]:
        """The bucket's tokens now, its refill per second, and now."""
        rate = self.limits.rates[rule]
        now = self._clock()
        refill = rate.burst / rate.per_seconds
        tokens, then = self._buckets.get((rule, key), (rate.burst, now))
        return min(rate.burst, tokens + (now - then) * refill), refill, now

    def _sweep(self, now: float) -> None:
        for (rule, key), (tokens, then) in list(self._buckets.items()):
            rate = self.limits.rates[rule]
            if tokens + (now - then) * rate.burst / rate.per_seconds >= rate.burst:
                del self._buckets[(rule, key)]

    async def open_connection(self, address: str) -> bool:
        count = self._connections.get(address, 0)
        if count >= self.limits.connections_per_address:
            return False
        self._connections[address] = count + 1
        return True

    async def close_connection(self, address: str) -> None:
        count = self._connections.pop(address, 0) - 1
        if count > 0:
            self._connections[address] = count


def address_of(client: tuple[str, int] | None) -> str:
    """The key of a request's or socket's client address (``request.client``; uvicorn puts a
    trusted proxy's ``X-Forwarded-For`` there)."""
    return client[0] if client else "unknown"


def retry_message(what: str, seconds: float) -> str:
    """The ``message`` of a refusal; ``Retry-After`` (HTTP) is the same whole seconds."""
    return f"too many {what}; try again in {retry_after(seconds)} s"


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
