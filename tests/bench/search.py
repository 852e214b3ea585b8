"""Conversation search on PostgreSQL, with and without the trigram indexes of migration 0006:
``python tests/bench/search.py [--messages 200000]``.

Fills a fresh PostgreSQL (Debian's server, started here) with one app's conversations, then
times the console's search (``store.search_rows``, the query the agent socket runs) for a rare
word, a common word and a name, first with the indexes dropped, then with them. Prints a small
Markdown table (docs/performance.md, "Search").
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from porch_server.storage import store  # noqa: E402
from porch_server.storage.db import create_engine, session_factory  # noqa: E402
from porch_server.storage.migrate import upgrade  # noqa: E402
from support import services  # noqa: E402

WORDS = [
    "order",
    "delivery",
    "refund",
    "invoice",
    "parcel",
    "shipping",
    "account",
    "password",
    "login",
    "basket",
    "coupon",
    "discount",
    "size",
    "colour",
    "return",
    "exchange",
    "warranty",
    "payment",
    "card",
    "address",
    "postcode",
    "tracking",
]
INDEXES = ("ix_messages_text_trgm", "ix_visitors_name_trgm", "ix_visitors_email_trgm")


def fill(server: services.Postgres, messages: int) -> None:
    conversations = max(1, messages // 50)
    rng = random.Random(7)
    server.psql(
        "INSERT INTO apps (appid, name, secret, allowed_domains, created_at, offline_message,"
        " prechat_fields) VALUES ('bench', 'bench', 's', '[]', 0, '', '[]')",
        "porch",
    )
    server.psql(
        "INSERT INTO visitors (app_id, public_id, uid, name, email, created_at)"
        f" SELECT 1, 'v' || g, 'u' || g, 'Visitor ' || g, 'visitor' || g || '@example.com', 0"
        f" FROM generate_series(1, {conversations}) g",
        "porch",
    )
    server.psql(
        "INSERT INTO conversations (id, app_id, visitor_id, created_at, updated_at, last_seq,"
        " visitor_read_seq, agent_read_seq)"
        f" SELECT 'c' || g, 1, g, g, g, 50, 0, 0 FROM generate_series(1, {conversations}) g",
        "porch",
    )
    rows = []
    for n in range(messages):
        text = " ".join(rng.choice(WORDS) for _ in range(12))
        if n % 10_000 == 0:
            text += " zebracorn"  # the rare word
        rows.append(f"m{n}\tc{n // 50 + 1}\t{n % 50 + 1}\tvisitor\tV\t{text}\tk{n}\t{n}")
    data = Path(f"/tmp/porch-search-{server.port}.tsv")
    data.write_text("\n".join(rows) + "\n")
    server.psql(
        f"\\copy messages (id, conversation_id, seq, author, author_name, text, client_id,"
        f" created_at) FROM '{data}'",
        "porch",
    )
    data.unlink()
    server.psql("ANALYZE", "porch")


async def timed(url: str, query: str, runs: int = 7) -> float:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        times = []
        for _ in range(runs):
            async with sessions() as session:
                started = time.perf_counter()
                await store.search_rows(session, 1, query, 50)
                times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    queries = {"rare word": "zebracorn", "common word": "refund", "visitor name": "Visitor 1234"}
    with services.postgres() as server:
        server.psql("CREATE DATABASE porch")
        url = server.url("porch")
        upgrade(url)
        fill(server, args.messages)
        with_indexes = {name: asyncio.run(timed(url, q)) for name, q in queries.items()}
        for index in INDEXES:
            server.psql(f"DROP INDEX {index}", "porch")
        without = {name: asyncio.run(timed(url, q)) for name, q in queries.items()}
    print(f"Search over {args.messages:,} messages (PostgreSQL 15, median of 7, ms):\n")
    print("| query | without trigram indexes | with them |")
    print("|---|---|---|")
    for name in queries:
        print(f"| {name} | {without[name]:.1f} | {with_indexes[name]:.1f} |")


if __name__ == "__main__":
    main()
