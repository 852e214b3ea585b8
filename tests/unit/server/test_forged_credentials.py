"""Forged credentials (issue 12): a seeded mutator changes real visitor tokens, tickets,
business signatures (``sbs_mm`` and the fields it signs), tawk.to ``hash`` values, agent
session tokens (the cookie's value) and upload tokens; none is accepted.

10,000 mutations go through the checks themselves (rules/security.py, rules/signing.py), 1,000
agent tokens and 1,200 more of every kind through the server, so the endpoints are seen to use
those checks. Replays of a used or
expired ``ranstr`` are in test_visitor_ws.py (test_replayed_business_login_fails,
test_expired_or_future_business_login_fails)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import replace

from conftest import (
    APPID,
    SECRET,
    Porch,
    expect_error,
    receive_close,
    receive_frame,
    seeded_token,
    send_frame,
)
from porch_protocol import (
    AgentHello,
    BusinessLogin,
    CloseCode,
    TawkLogin,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
)
from porch_server.rules.security import (
    issue_ticket,
    issue_upload_token,
    sign_visitor,
    verify_ticket,
    verify_upload_token,
    verify_visitor,
)
from porch_server.rules.signing import (
    sign_business_user,
    tawk_hash,
    verify_business_user,
    verify_tawk_hash,
)
from porch_server.transport.http.agent_auth import SESSION_COOKIE

SEED = 12
PER_KIND = 2_000  # through the checks
ON_THE_WIRE = 200  # through the server
NOW_MS = 1_700_000_000_000
SERVER_SECRET = secrets.token_bytes(32)
#: Characters a mutation puts in: base64url, hex, separators, look-alikes, controls.
ALPHABET = (
    "ABCDEFabcdef0123456789-_.=+/%: \t\x00"
    "\u0430\u0435\u043e\u0440\u0441\u0445\u2028\ufeff\U0001d41a"
)


def mutate(rng: random.Random, value: str) -> str:
    """``value`` changed once or a few times: a character replaced, dropped, added, moved or
    its case flipped; cut, doubled, padded, or replaced by a look-alike."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        at = rng.randrange(len(value) + 1)
        op = rng.randrange(10)
        if op == 0 and value:
            at = min(at, len(value) - 1)
            value = value[:at] + rng.choice(ALPHABET) + value[at + 1 :]
        elif op == 1 and value:
            value = value[:at] + value[at + 1 :]
        elif op == 2:
            value = value[:at] + rng.choice(ALPHABET) + value[at:]
        elif op == 3 and len(value) > 1:
            i, j = sorted(rng.sample(range(len(value)), 2))
            value = value[:i] + value[j] + value[i + 1 : j] + value[i] + value[j + 1 :]
        elif op == 4:
            value = value.swapcase() if rng.random() < 0.3 else _flip_case(rng, value)
        elif op == 5:
            value = value[: rng.randrange(len(value) + 1)]
        elif op == 6:
            value = value + value[: rng.randrange(1, 8)]
        elif op == 7:
            value = value + rng.choice(("=", "==", "\n", " ", ".", "%00", "\x00"))
        elif op == 8:
            value = rng.choice(("", " ", "null", "0", "a" * len(value), value.upper()))
        else:
            value = value.replace(rng.choice("ac0e"), rng.choice("\u0430\u0441\u043e\u0435"), 1)
    return value


def _flip_case(rng: random.Random, value: str) -> str:
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    if not letters:
        return value + "x"
    i = rng.choice(letters)
    return value[:i] + value[i].swapcase() + value[i + 1 :]


def mutations(
    seed: int, value: str, count: int, same: Callable[[str, str], bool] = str.__eq__
) -> list[str]:
    """``count`` distinct mutations of ``value``, none ``same`` as it."""
    rng = random.Random(f"{seed}:{value}")
    found: set[str] = set()
    while len(found) < count:
        candidate = mutate(rng, value)
        if not same(candidate, value):
            found.add(candidate)
    return sorted(found)


def header(value: str) -> bytes:
    """A credential as an HTTP header can carry it: UTF-8 bytes, without the characters no
    header may hold (a client could not send them)."""
    return "".join(c for c in value if c not in "\r\n\x00").encode("utf-8")


def _ranstr() -> str:
    return f"{NOW_MS // 1000}.{secrets.token_urlsafe(16)}"


# --- the checks themselves: 5 kinds x 2,000; agent tokens (a database lookup) 1,000 -------------


def test_mutated_visitor_tokens_never_verify() -> None:
    bs = "v_" + secrets.token_urlsafe(16)
    bs_mm = sign_visitor(SECRET, bs)
    half = PER_KIND // 2
    assert not any(verify_visitor(SECRET, bs, m) for m in mutations(SEED, bs_mm, half))
    assert not any(verify_visitor(SECRET, m, bs_mm) for m in mutations(SEED, bs, half))
    assert verify_visitor(SECRET, bs, bs_mm)  # the original does


def test_mutated_tickets_never_verify() -> None:
    ticket, _ = issue_ticket(SERVER_SECRET, APPID, "https://shop.acme.test", NOW_MS)
    forged = mutations(SEED, ticket, PER_KIND)
    assert [m for m in forged if verify_ticket(SERVER_SECRET, m, NOW_MS)] == []
    assert verify_ticket(SERVER_SECRET, ticket, NOW_MS) is not None


def test_mutated_business_logins_never_verify() -> None:
    ranstr = _ranstr()
    profile = {"name": "Ann", "nickname": "A", "email": "ann@example.com", "phone": "+1 555"}
    sbs_mm = sign_business_user(SECRET, "user-42", ranstr, **profile)
    fields = {"sbs": "user-42", "ranstr": ranstr, "sbs_mm": sbs_mm, **profile}
    share = PER_KIND // len(fields)
    accepted = []
    for field, value in fields.items():
        for forged in mutations(SEED, value, share):
            # A hex signature in another case is another string: compared as sent.
            given = {**fields, field: forged}
            if verify_business_user(SECRET, **given):  # type: ignore[arg-type]
                accepted.append((field, forged))
    assert accepted == []
    assert verify_business_user(SECRET, **fields)  # type: ignore[arg-type]


def _same_hex(a: str, b: str) -> bool:
    return a.lower() == b.lower()  # tawk.to's hash is accepted in any case of hex digits


def test_mutated_tawk_hashes_never_verify() -> None:
    digest = tawk_hash(SECRET, "user-42")
    half = PER_KIND // 2
    forged = mutations(SEED, digest, half, _same_hex)
    assert not any(verify_tawk_hash(SECRET, "user-42", m) for m in forged)
    assert not any(verify_tawk_hash(SECRET, m, digest) for m in mutations(SEED, "user-42", half))
    assert verify_tawk_hash(SECRET, "user-42", digest.upper())


def test_mutated_upload_tokens_never_verify() -> None:
    token = issue_upload_token(SERVER_SECRET, 7, NOW_MS)
    forged = mutations(SEED, token, PER_KIND)
    assert [m for m in forged if verify_upload_token(SERVER_SECRET, m, NOW_MS) is not None] == []
    assert verify_upload_token(SERVER_SECRET, token, NOW_MS) == 7


def test_mutated_agent_tokens_never_open_a_session(porch: Porch) -> None:
    """The session cookie's value is the agent token; the server looks up its SHA-256."""
    token = porch.login()
    porch.client.cookies.clear()  # each forged bearer token stands alone
    accepted = []
    for forged in mutations(SEED, token, PER_KIND // 2):  # HTTP requests: half the count
        response = porch.client.post(
            "/api/v1/files",  # the cheapest request the token authenticates
            content=b"x",
            headers={"authorization": b"Bearer " + header(forged), "x-filename": "a.txt"},
        )
        if response.status_code != 401 and header(forged).strip() != token.encode():
            # (a mutation that only added what a header cannot carry is the token itself)
            accepted.append((forged, response.status_code))
    assert accepted == []


# --- the same on the wire: 6 kinds x 200 -------------------------------------------------------


def test_a_mutated_visitor_token_gets_a_new_visitor_not_the_victim(porch: Porch) -> None:
    _, victim = porch.visitor()
    bs_mm = victim.identity.bs_mm
    for forged in mutations(SEED + 1, bs_mm, ON_THE_WIRE):
        _, welcome = porch.visitor(identity=VisitorIdentity(victim.identity.bs, forged))
        assert (welcome.source, welcome.visitor_uid != victim.visitor_uid) == ("resolved", True)
    # The real one still is the victim (none of the above revoked or replaced it).
    _, again = porch.visitor(identity=victim.identity)
    assert again.visitor_uid == victim.visitor_uid


def _closed_with(porch: Porch, hello: VisitorHello, code: str, close: int) -> None:
    ws = porch.connect("/ws/visitor")
    send_frame(ws, hello)
    expect_error(ws, code, fatal=True)
    assert receive_close(ws) == close


def test_mutated_tickets_close_4401(porch: Porch) -> None:
    ticket = porch.ticket()
    for forged in mutations(SEED + 2, ticket, ON_THE_WIRE):
        hello = VisitorHello(ticket=forged)
        _closed_with(porch, hello, "unauthorized", CloseCode.UNAUTHORIZED)


def test_mutated_business_signatures_close_4402(porch: Porch) -> None:
    ranstr = f"{int(porch.clock.now)}.{secrets.token_urlsafe(16)}"
    login = BusinessLogin(
        sbs="user-42", ranstr=ranstr, sbs_mm=sign_business_user(SECRET, "user-42", ranstr)
    )
    ticket = porch.ticket()
    for forged in mutations(SEED + 3, login.sbs_mm, ON_THE_WIRE):
        hello = VisitorHello(ticket=ticket, login=replace(login, sbs_mm=forged))
        _closed_with(porch, hello, "login_failed", CloseCode.LOGIN_FAILED)
    porch.visitor(login=login)  # untouched, it still works: no forgery used it up


def test_mutated_tawk_hashes_close_4402(porch: Porch) -> None:
    login = TawkLogin(user_id="user-42", hash=tawk_hash(SECRET, "user-42"))
    ticket = porch.ticket()
    for forged in mutations(SEED + 4, login.hash, ON_THE_WIRE, _same_hex):
        hello = VisitorHello(ticket=ticket, tawk_login=replace(login, hash=forged))
        _closed_with(porch, hello, "login_failed", CloseCode.LOGIN_FAILED)


def test_mutated_session_cookies_close_4401(porch: Porch) -> None:
    token = seeded_token("ann@acme.test")
    for forged in mutations(SEED + 5, token, ON_THE_WIRE):
        cookie = header(forged.replace(";", "a").replace(",", "a")).strip()
        if cookie == token.encode():
            continue  # the mutation was only what a header cannot carry
        headers = {"origin": "http://testserver", "cookie": f"{SESSION_COOKIE}=".encode() + cookie}
        with porch.client.websocket_connect("/ws/agent", headers=headers) as ws:
            send_frame(ws, AgentHello())
            expect_error(ws, "unauthorized", fatal=True)
            assert receive_close(ws) == CloseCode.UNAUTHORIZED
    headers = {"origin": "http://testserver", "cookie": f"{SESSION_COOKIE}={token}"}
    with porch.client.websocket_connect("/ws/agent", headers=headers) as ws:
        send_frame(ws, AgentHello())
        assert receive_frame(ws).TYPE == "agent.welcome"


def test_mutated_upload_tokens_are_401(porch: Porch) -> None:
    _, welcome = porch.visitor()
    assert isinstance(welcome, VisitorWelcome)
    for forged in mutations(SEED + 6, welcome.upload_token, ON_THE_WIRE):
        if header(forged).strip() == welcome.upload_token.encode():
            continue  # the mutation was only what a header cannot carry
        response = porch.client.post(
            "/api/v1/files",
            content=b"x",
            headers={"authorization": b"Bearer " + header(forged), "x-filename": "a.txt"},
        )
        assert response.status_code == 401, (forged, response.text)
