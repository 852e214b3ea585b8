"""A/B two builds of ``public/`` in one session: a server for each (``PORCH_PUBLIC_DIR``), the
same headless Chromium, interleaved rounds of a cold and a warm visit (``browser.visit``) on each
server's demo page (same-origin) and, with ``--dwell``, visits with the pointer resting first;
with ``--page console``, of each server's agent console instead (``browser.console_ready``).

    .venv/bin/python tests/bench/ab.py --a /tmp/public-before --b public --rounds 6

Prints the medians (and min-max) of each figure per build. For a lever's A/B on a machine that
other work loads: interleaving spreads that load over both builds alike.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bench  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from run import cell, stats  # noqa: E402

from conftest import CHROMIUM_ARGS, PorchServer, chromium  # noqa: E402

FIGURES = {
    "demo": (
        "click_to_activated_ms",
        "click_to_mounted_ms",
        "first_open_bytes",
        "panel_focused_ms",
    ),
    "console": ("console_ready_ms",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="the first build's public/")
    parser.add_argument("--b", type=Path, required=True, help="the second build's public/")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--dwell", type=float, default=0, help="ms the pointer rests first")
    parser.add_argument("--page", choices=sorted(FIGURES), default="demo")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        servers = {}
        for name, public in (("A", args.a), ("B", args.b)):
            server = PorchServer(Path(tmp) / name)
            server.workdir.mkdir()
            server.env["PORCH_PUBLIC_DIR"] = str(public.resolve())
            server.start()
            servers[name] = server
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            for _ in range(args.rounds):
                for name, server in servers.items():
                    context = browser.new_context()
                    for visit in ("cold", "warm"):
                        if args.page == "console":
                            result = bench.console_ready(context, server)
                        else:
                            url = f"{server.url}/demo/"
                            result = bench.visit(context, url, dwell_ms=args.dwell)
                        runs.setdefault(f"{name} {visit}", []).append(result)
                    context.close()
        finally:
            browser.close()
            for server in servers.values():
                server.stop()
    print_table(runs, FIGURES[args.page])


def print_table(runs: dict[str, list[dict[str, Any]]], figures: tuple[str, ...]) -> None:
    print("| figure | case | median | p90 | min-max | n |")
    print("|---|---|---|---|---|---|")
    for key in figures:
        unit = "B" if key.endswith("bytes") else "ms"
        for case in sorted(runs):
            s = stats([r[key] for r in runs[case]])
            print(f"| {key} | {case} | " + " | ".join(cell(s, unit)) + f" | {s['n']} |")


if __name__ == "__main__":
    main()
