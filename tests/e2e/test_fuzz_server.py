"""100,000 malformed WebSocket frames and HTTP bodies against a real server (issue 12).

A seeded fuzzer (``PORCH_FUZZ_SEED``; ``PORCH_FUZZ_INPUTS`` sets the count, 100,000 by default)
sends random bytes, deep nesting, huge numbers, lone surrogates, NUL, wrong types, missing
fields and unknown or misdirected frame types. The protocol's own decoder is the oracle that
says what each input must get:

- a frame the decoder refuses with a fatal code (``bad_json``, ``bad_version``, ``too_large``),
  or anything larger than the server's WebSocket limit, is sent on a socket of its own: the
  answer must be a fatal ``error`` and close 4400, or close 1009 (message too big; a frame past
  the limit may instead see the connection reset while its body is still being written);
- any other refused frame is sent in batches of 200 on a few long-lived visitor and agent
  sockets: each must get one non-fatal ``error``; a well-formed request frame with hostile
  values (those carry a ``request_id``) must get one ``request.done`` or ``error``;
- an HTTP body must get a 4xx with a JSON ``error`` (or a 2xx where the mutation happened to be
  valid), never a 5xx.

Never ``SERVER_ERROR``, never a traceback in the server's log, and after it all a fresh visitor
still gets a message acknowledged. docs/security.md has the time a run takes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from porch_protocol import (
    AGENT_SENDS,
    MAX_FRAME_CHARS,
    VISITOR_SENDS,
    AgentHello,
    Message,
    ProtocolError,
    VisitorHello,
    decode,
)
from raw_clients import (
    DEMO_AGENT,
    HOST_ORIGIN,
    agent,
    agent_token,
    own_server,
    receive,
    round_trip,
    run_async,
    visitor,
    ws_url,
)

SEED = int(os.environ.get("PORCH_FUZZ_SEED", "12"))
INPUTS = int(os.environ.get("PORCH_FUZZ_INPUTS", "100000"))
#: Shares of the inputs: long-lived visitor sockets, agent sockets, one socket per fatal frame,
#: HTTP bodies. Fatal frames cost a connection each, so they get the smallest share.
SHARES = {"visitor": 0.45, "agent": 0.30, "fatal": 0.05, "http": 0.20}
#: Frames sent before reading the answers (below the server's 512-frame outbox limit).
BATCH = 200
#: uvicorn's default WebSocket message limit (PORCH_WS_MAX_SIZE): 1 MiB.
WS_MAX_SIZE = 1024 * 1024
FATAL_CODES = {"bad_json", "bad_version", "too_large"}
REQUEST_TYPES = {
    "tags.change",
    "visitor.update",
    "visitor.event",
    "prechat.submit",
    "offline.submit",
    "conversation.search",
    "app.update",
}

#: One valid frame body per type a client may send after its hello. A test below fails when a
#: frame type is added to the protocol without a template here.
VISITOR_TEMPLATES: dict[str, dict[str, Any]] = {
    "message.send": {"client_id": "c1", "text": "hi"},
    "conversation.read": {"seq": 1},
    "typing.set": {"typing": True},
    "conversation.end": {"conversation_id": "x"},
    "conversation.rate": {"rating": 1, "comment": "ok"},
    "tags.change": {"request_id": "r", "add": ["a"], "remove": ["b"], "version": 0},
    "visitor.update": {
        "request_id": "r",
        "profile": {"name": "Vi", "email": "v@x.test"},
        "attributes": {"plan": "gold", "seats": 3},
        "hash": "00",
    },
    "visitor.event": {"request_id": "r", "name": "clicked", "metadata": {"k": 1.5}},
    "prechat.submit": {"request_id": "r", "answers": [{"name": "name", "value": "V"}]},
    "offline.submit": {
        "request_id": "r",
        "name": "V",
        "email": "v@x.test",
        "message": "m",
        "questions": [{"name": "q", "value": "a", "label": "Q"}],
    },
    "conversation.delete": {"request_id": "r"},
}
AGENT_TEMPLATES: dict[str, dict[str, Any]] = {
    "conversation.open": {"conversation_id": "x"},
    "message.send": {"client_id": "c1", "text": "hi", "conversation_id": "x", "file_id": "f"},
    "conversation.read": {"seq": 1, "conversation_id": "x"},
    "visitor.revoke": {"conversation_id": "x", "reason": "spam"},
    "typing.set": {"typing": False, "conversation_id": "x"},
    "conversation.end": {"conversation_id": "x"},
    "tags.change": {"request_id": "r", "add": ["a"], "conversation_id": "x"},
    "presence.set": {"status": "away"},
    "conversation.assign": {"conversation_id": "x", "agent_id": "y"},
    "conversation.leave": {"conversation_id": "x"},
    "conversation.search": {"request_id": "r", "query": "q"},
    "app.update": {
        "request_id": "r",
        "app": {
            "appid": "porch-demo",
            "name": "n",
            "allowed_domains": ["127.0.0.1", "localhost"],
            "business_hours": {
                "timezone": "UTC",
                "days": [{"weekday": 0, "opens": "09:00", "closes": "17:00"}],
            },
            "prechat_fields": [{"name": "name", "label": "Name", "kind": "text"}],
        },
    },
}

#: Values of every JSON type and the edges of each: what replaces a field's value.
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**53,
    2**53 + 1,
    -(2**63),
    10**30,
    1e308,
    -1e-308,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "\ufeff",
    "\uffff",
    "\U0001f600",
    "<script>",
    "x" * 300,
    "y" * 6000,
    "%s%n",
    "../../etc/passwd",
    "\r\n",
    "\t",
    "null",
    "1",
    [],
    [None],
    [[[]]],
    [1, "a"],
    ["x" * 300] * 12,
    {},
    {"": 1},
    {"a": {"b": {"c": []}}},
    {"k" * 101: 1},
    {f"k{i}": i for i in range(60)},
]
#: Raw JSON text spliced in place of a value: what json.dumps cannot write.
RAW_VALUES = [
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"a\\u0000"',
    "99999999999999999999",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "01",
    "1.",
    ".5",
    "+1",
    '"\\x41"',
    "'a'",
    "tru",
    "[" * 40 + "]" * 40,
    '{"a":' * 40 + "1" + "}" * 40,
]


def _splice(rng: random.Random, body: dict[str, Any]) -> str:
    """``body`` as JSON with one value replaced by raw text json.dumps would never write."""
    marker = "\x01MARK\x01"
    path = _random_path(rng, body)
    if path:
        _set(body, path, marker)
    else:
        body["extra"] = marker
    return json.dumps(body).replace(json.dumps(marker), rng.choice(RAW_VALUES), 1)


def _random_path(rng: random.Random, value: Any) -> list[Any]:
    """A path to a random value below the top level (never ``v`` or ``type``)."""
    path: list[Any] = []
    while isinstance(value, dict | list) and value:
        keys = [
            k
            for k in (value if isinstance(value, dict) else range(len(value)))
            if k not in ("v", "type")
        ]
        if not keys:
            break
        key = rng.choice(keys)
        path.append(key)
        value = value[key]
        if rng.random() < 0.5:
            break
    return path


def _set(body: Any, path: list[Any], new: Any) -> None:
    for key in path[:-1]:
        body = body[key]
    body[path[-1]] = new


def _mutate(rng: random.Random, templates: dict[str, dict[str, Any]], other: list[str]) -> str:
    """One mutated frame: a template with a value swapped, a field dropped or added, or the
    frame's type changed to an unknown or the other side's."""
    name = rng.choice(sorted(templates))
    body = {"v": 1, "type": name, **json.loads(json.dumps(templates[name]))}
    op = rng.randrange(7)
    if op == 0:
        body["type"] = rng.choice(
            [
                "",
                "x",
                "message",
                "visitor.hello.x",
                "MESSAGE.SEND",
                "__proto__",
                "constructor",
                "\u0000",
                "a" * 500,
            ]
        )
    elif op == 1:
        body["type"] = rng.choice(other)
    elif op == 2:
        body["type"] = rng.choice([None, 1, [], {}, True])
    elif op == 3 and len(body) > 2:
        del body[rng.choice([k for k in body if k not in ("v", "type")])]
    elif op == 4:
        return _splice(rng, body)
    else:
        path = _random_path(rng, body)
        if path:
            _set(body, path, rng.choice(HOSTILE_VALUES))
        else:
            body[rng.choice(["extra", "request_id", "client_id"])] = rng.choice(HOSTILE_VALUES)
    return json.dumps(body)


def _fatal_frame(rng: random.Random) -> str | bytes:
    """A frame no stream can survive: not JSON, not an object, another version, too large."""
    op = rng.randrange(9)
    if op == 0:
        return rng.randbytes(rng.randrange(1, 300))
    if op == 1:
        return bytes([0xED, 0xA0, 0x80]) + rng.randbytes(8)  # UTF-8 of a surrogate
    if op == 2:
        depth = rng.choice([33, 100, 15_000, 30_000])
        return rng.choice(["[", '{"a":']) * depth
    if op == 3:
        return '{"v":1,"type":"visitor.hello","ticket":"t"' + rng.choice(["", ",", "}}", "\x00"])
    if op == 4:
        return json.dumps(rng.choice([1, "x", [], None, True, [{"v": 1}]]))
    if op == 5:
        return json.dumps({"v": rng.choice([0, 2, "1", 1.0001, None, [1]]), "type": "x"})
    if op == 6:
        return '{"v":1,"type":"message.send","text":"' + "z" * (MAX_FRAME_CHARS + 10) + '"}'
    if op == 7:
        return "x" * (WS_MAX_SIZE + 1)  # past uvicorn's limit: close 1009
    return rng.choice(
        [
            "NaN",
            "1e400",
            '{"v":1e400}',
            '{"v":1,"type":"x","n":-Infinity}',
            "\ufeff{}",
            "{\x00}",
            '{"v":1,"type":"x"}garbage',
        ]
    )


def _classify(frame: str | bytes, expected: frozenset[type[Message]]) -> str:
    """What the server must answer, by the protocol's decoder: ``fatal``, ``error`` or
    ``valid``."""
    if len(frame) > WS_MAX_SIZE:
        return "fatal"
    try:
        decode(frame, expected)
    except ProtocolError as exc:
        return "fatal" if exc.code in FATAL_CODES else "error"
    return "valid"


def _keep_open_frames(
    rng: random.Random,
    count: int,
    templates: dict[str, dict[str, Any]],
    other: list[str],
    expected: frozenset[type[Message]],
    allow_valid_requests: bool,
) -> tuple[list[str], list[str]]:
    """``count`` frames a socket must answer one by one without closing, and the fatal ones the
    mutator made on the way (they go to the fatal pool instead)."""
    frames: list[str] = []
    fatal: list[str] = []
    while len(frames) < count:
        frame = _mutate(rng, templates, other)
        kind = _classify(frame, expected)
        if kind == "error":
            frames.append(frame)
        elif kind == "fatal":
            fatal.append(frame)
        elif allow_valid_requests and json.loads(frame)["type"] in REQUEST_TYPES:
            frames.append(frame)
    return frames, fatal


async def _drive_stream(
    ws: ClientConnection, frames: list[str], probe: Callable[[int], str], answers: Counter[str]
) -> None:
    """Send ``frames`` in batches; after each, a probe whose answer ends the batch. Every frame
    must have been answered by one ``error`` or ``request.done`` before the probe's."""
    for start in range(0, len(frames), BATCH):
        batch = frames[start : start + BATCH]
        for frame in batch:
            await ws.send(frame)
        await ws.send(probe(start))
        got = 0
        while True:
            frame = await receive(ws)
            if frame.get("request_id") == f"probe-{start}":
                break
            if frame["type"] == "error":
                assert not frame["fatal"] and frame["code"] != "SERVER_ERROR", frame
                answers[frame["code"]] += 1
                got += 1
            elif frame["type"] == "request.done":
                answers["request.done"] += 1
                got += 1
        assert got == len(batch), f"{got} answers to {len(batch)} frames from {start}"


async def _drive_fatal(url: str, frames: list[str | bytes], answers: Counter[str]) -> None:
    for frame in frames:
        async with connect(url, origin=HOST_ORIGIN, max_size=None) as ws:  # type: ignore[arg-type]
            try:
                # Inside the try: the server closes 1009 on a too-big frame's header, which can
                # reach the client while it is still writing the frame's body.
                await ws.send(frame)
                error = await receive(ws)
                assert error["type"] == "error" and error["fatal"], error
                answers[error["code"]] += 1
                await asyncio.wait_for(ws.recv(), 30)
                raise AssertionError("the socket stayed open after a fatal error")
            except ConnectionClosed as closed:
                if closed.rcvd is None and len(frame) > WS_MAX_SIZE:
                    # Closing with the body unread resets the connection, and the reset can
                    # overtake the close frame: the only input where it may.
                    answers["reset mid-frame"] += 1
                    continue
                assert closed.rcvd is not None, (closed, frame[:80])
                assert closed.rcvd.code in (4400, 1009), (closed.rcvd, frame[:80])
                answers[f"close {closed.rcvd.code}"] += 1


def _http_inputs(rng: random.Random, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    """(path, headers, body) for the JSON endpoints and the upload endpoint."""
    bodies: list[tuple[str, dict[str, str], bytes]] = []
    templates = {
        "/api/v1/bootstrap": {"appid": "porch-demo", "identity": {"bs": "b", "bs_mm": "m"}},
        "/api/v1/agent/login": {"email": 1, "password": ["x"]},  # never both strings: no argon2
        "/api/v1/agent/logout": {},
    }
    while len(bodies) < count:
        path = rng.choice([*templates, "/api/v1/files"])
        headers = {"origin": rng.choice([HOST_ORIGIN, "null", "https://evil.test"])}
        if path == "/api/v1/files":
            headers["authorization"] = rng.choice(
                ["Bearer 1.9999999999999.x", "Bearer", "Basic x", "Bearer " + "a" * 5000]
            )
            headers["x-filename"] = rng.choice(["a.png", "../../x", "%ED%A0%80", "%00.txt", ""])
            bodies.append((path, headers, rng.randbytes(rng.randrange(0, 2000))))
            continue
        op = rng.randrange(4)
        if op == 0:
            body = rng.randbytes(rng.randrange(0, 400))
        elif op == 1:
            raw = _fatal_frame(rng)
            body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        elif op == 2:
            body = _splice(rng, dict(templates[path])).encode()
        else:
            text = _mutate(rng, {"x": templates[path]}, ["y"])
            if path == "/api/v1/agent/login" and _both_strings(text):
                continue
            body = text.encode("utf-8", "surrogatepass")
        bodies.append((path, headers, body))
    return bodies


def _both_strings(text: str) -> bool:
    """Whether a login body names an email and a password (it would cost an argon2 hash)."""
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and all(
        isinstance(body.get(k), str) for k in ("email", "password")
    )


async def _drive_http(
    client: httpx.AsyncClient,
    base: str,
    inputs: list[tuple[str, dict[str, str], bytes]],
    answers: Counter[str],
) -> None:
    for path, headers, body in inputs:
        response = await client.post(base + path, content=body, headers=headers)
        assert response.status_code < 500, (path, body[:80], response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str), response.text
        answers[f"http {response.status_code}"] += 1


def test_every_frame_type_has_a_fuzz_template() -> None:
    assert set(VISITOR_TEMPLATES) == {c.TYPE for c in VISITOR_SENDS - {VisitorHello}}
    assert set(AGENT_TEMPLATES) == {c.TYPE for c in AGENT_SENDS - {AgentHello}}
    for templates, sends in ((VISITOR_TEMPLATES, VISITOR_SENDS), (AGENT_TEMPLATES, AGENT_SENDS)):
        for name, body in templates.items():  # each template is valid, so mutations matter
            decode(json.dumps({"v": 1, "type": name, **body}), sends)


def test_malformed_frames_and_bodies_get_clear_errors_and_the_server_stays_up(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    counts = {part: int(INPUTS * share) for part, share in SHARES.items()}
    sockets = 3  # per side: a few long-lived connections share the stream
    visitor_frames, fatal_v = _keep_open_frames(
        rng,
        counts["visitor"],
        VISITOR_TEMPLATES,
        sorted(AGENT_TEMPLATES),
        VISITOR_SENDS - {VisitorHello},
        allow_valid_requests=True,
    )
    agent_frames, fatal_a = _keep_open_frames(
        rng,
        counts["agent"],
        AGENT_TEMPLATES,
        sorted(VISITOR_TEMPLATES),
        AGENT_SENDS - {AgentHello},
        allow_valid_requests=False,
    )
    # Half of them from the mutator, half from the generator of broken streams.
    fatal: list[str | bytes] = [*fatal_v, *fatal_a][: counts["fatal"] // 2]
    while len(fatal) < counts["fatal"]:
        frame = _fatal_frame(rng)
        if _classify(frame, frozenset({VisitorHello})) == "fatal":
            fatal.append(frame)
    http_inputs = _http_inputs(rng, counts["http"])
    total = len(visitor_frames) + len(agent_frames) + len(fatal) + len(http_inputs)
    answers: Counter[str] = Counter()

    def visitor_probe(n: int) -> str:
        return json.dumps(
            {"v": 1, "type": "visitor.event", "request_id": f"probe-{n}", "name": "probe"}
        )

    def agent_probe(n: int) -> str:
        return json.dumps(
            {"v": 1, "type": "conversation.search", "request_id": f"probe-{n}", "query": "probe"}
        )

    with own_server(tmp_path) as server:

        async def fuzz() -> float:
            started = time.perf_counter()
            async with httpx.AsyncClient(timeout=30) as http:
                token = await agent_token(http, server, *DEMO_AGENT)
                visitors = [await visitor(http, server) for _ in range(sockets)]
                agents = [await agent(server, token) for _ in range(sockets)]
                jobs = [
                    *(
                        _drive_stream(ws, visitor_frames[i::sockets], visitor_probe, answers)
                        for i, (ws, _) in enumerate(visitors)
                    ),
                    *(
                        _drive_stream(ws, agent_frames[i::sockets], agent_probe, answers)
                        for i, (ws, _) in enumerate(agents)
                    ),
                    *(
                        _drive_fatal(ws_url(server, "/ws/visitor"), fatal[i::2], answers)
                        for i in range(2)
                    ),
                    *(_drive_http(http, server.url, http_inputs[i::3], answers) for i in range(3)),
                ]
                await asyncio.gather(*jobs)
                elapsed = time.perf_counter() - started
                # Everyone else is still served: a fresh visitor's message is acknowledged.
                fresh = await visitor(http, server)
                ack = await round_trip(fresh[0], "after-the-storm")
                assert ack["message"]["text"] == "ping"
                for ws, _ in [*visitors, *agents, fresh]:
                    await ws.close()
                return elapsed

        elapsed = run_async(fuzz)
        log = server.log_path.read_text(errors="replace")
    print(f"\n{total} malformed inputs (seed {SEED}) in {elapsed:.1f} s: {dict(answers)}")
    assert total >= INPUTS * 0.99
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
