"""The one reconnect schedule, shared by the widget's runtime and the agent console."""

from __future__ import annotations

import itertools

from porch_protocol import backoff
from porch_protocol.reconnect import MAX_DELAY


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = list(itertools.islice(backoff(lambda: 1.0, initial=0.5, cap=4.0), 6))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_keeps_each_delay_between_half_and_all_of_its_nominal_value() -> None:
    assert list(itertools.islice(backoff(lambda: 0.0, initial=1.0), 3)) == [0.5, 1.0, 2.0]
    assert max(itertools.islice(backoff(), 50)) <= MAX_DELAY


def test_the_runtime_reconnects_on_this_schedule() -> None:
    import porch_runtime.core

    assert porch_runtime.core.backoff is backoff
