"""When to reconnect: the one backoff schedule of every Porch client.

The widget's runtime (``porch_runtime.core``) and the agent console (``public/agent/``) both
reconnect a dropped socket after these delays. One schedule, so a server restart sees the same
spread from both (they disagreed: the console capped at 30 s, the widget at 15 s).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

#: The first delay's nominal value, the growth factor and the cap, in seconds.
INITIAL_DELAY = 0.5
FACTOR = 2.0
MAX_DELAY = 15.0


def backoff(
    rng: Callable[[], float] = random.random,
    *,
    initial: float = INITIAL_DELAY,
    factor: float = FACTOR,
    cap: float = MAX_DELAY,
) -> Iterator[float]:
    """Seconds to wait before each reconnection attempt: exponential, capped, with jitter kept
    between half and all of the nominal delay, so a fleet of clients cut at once (a server
    restart) does not come back in lockstep and yet none waits much longer than planned. A pure
    generator (as in websockets): ``rng`` is injected, so tests never sleep."""
    delay = initial
    while True:
        yield delay * (0.5 + rng() / 2)
        delay = min(cap, delay * factor)
