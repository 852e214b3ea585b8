"""Porch's benchmark suite: ``make bench`` (full) or ``make bench BENCH_PROFILE=smoke``.

Runs every measurement of docs/performance.md against a real server process: the browser figures
in headless Chromium (``browser.py``), for the widget on another site than the host page and on
the same origin, cold (fresh browser profile) and warm (a second visit); the server figures with
a load generator in its own process (``load.py``). Each figure is taken several times and
reported as median, p90 and min-max, next to its baseline where it has one (the same page
without Porch, a plain Pyodide boot) and the issue's target. Then the soak (``soak.py``: a
server of its own under chat, reconnects and churn for minutes, watching what grows). Results go
to ``bench/results/<UTC time>.md`` and ``.json`` with the soak's plot beside them
(``<UTC time>-soak.png``), a summary to stdout.

It asserts nothing about time: numbers depend on the machine. CI runs the smoke profile only to
prove the suite still works.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bench  # noqa: E402
import load  # noqa: E402
import soak  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from conftest import CHROMIUM_ARGS, PorchServer, chromium  # noqa: E402

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "runs": 1,
        "networks": [],
        "plain_runs": 1,
        "soak": "short",
        "load": [
            "--connections",
            "200",
            "--round-trips",
            "30",
            "--senders",
            "10",
            "--seconds",
            "3",
            "--deadline",
            "30",
        ],
    },
    "full": {
        "runs": 5,
        "networks": ["10mbit-40ms", "1.6mbit-150ms"],
        "network_runs": 2,
        "dwell_runs": 3,
        "memory_runs": 3,
        "plain_runs": 3,
        "soak": "full",
        "load": [
            "--connections",
            "10000",
            "--round-trips",
            "300",
            "--senders",
            "100",
            "--seconds",
            "15",
            "--deadline",
            "400",
        ],
    },
}

#: figure key -> (label, unit, target, baseline key)
FIGURES: dict[str, tuple[str, str, str, str | None]] = {
    "pre_intent_bytes": (
        "bytes before intent (Porch's, all frames, encoded)",
        "B",
        "<= 20 KB",
        None,
    ),
    "pre_intent_requests": ("requests before intent", "", "", None),
    "pre_intent_pyodide_bytes": ("Pyodide bytes before intent", "B", "0", None),
    "pre_intent_script_ms": (
        "host renderer script time, load to settled",
        "ms",
        "",
        "baseline_pre_intent_script_ms",
    ),
    "host_script_ms": (
        "host renderer script time, click to activation",
        "ms",
        "<= 10 ms more",
        "baseline_host_script_ms",
    ),
    "total_script_ms": (
        "host renderer script time, navigation to activation",
        "ms",
        "",
        "baseline_total_script_ms",
    ),
    "host_long_tasks": ("host long tasks, load to activation", "", "0", "baseline_host_long_tasks"),
    "host_layout_shift": ("host layout shift (CLS sum)", "", "0.000", "baseline_host_layout_shift"),
    "launcher_visible_ms": ("launcher painted after core.js starts", "ms", "<= 100 ms", None),
    "tawk_load_ms": ("Tawk_API onLoad (tawkLoad) after tawk.js starts", "ms", "", None),
    "panel_focused_ms": ("panel composer focused after the click", "ms", "<= 100 ms", None),
    "typing_accepted": ("typing accepted in the panel (1 = yes)", "", "1", None),
    "click_to_mounted_ms": ("click -> runtime_mounted", "ms", "", None),
    "click_to_activated_ms": (
        "click -> runtime_activated",
        "ms",
        "<= 1000 cold / 400 warm",
        "plain_boot_ms",
    ),
    "first_open_bytes": (
        "bytes of the first open (hover to activation)",
        "B",
        "<= 5 MB",
        "plain_boot_bytes",
    ),
    "snapshot_from_cache": ("snapshot from Cache Storage (1 = yes)", "", "", None),
    "console_ready_ms": ("agent console ready after navigation", "ms", "<= 1500 ms", None),
    "preboot_memory_bytes": (
        "memory of a pre-boot (Chromium's PSS, booted vs loaded)",
        "B",
        "report",
        None,
    ),
    "preboot_released_bytes": ("memory given back by its release", "B", "all of it", None),
    "preboot_left_bytes": ("memory left after the release (vs loaded)", "B", "", None),
}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "note": os.environ.get("BENCH_NOTE", ""),
    }


def stats(values: list[float]) -> dict[str, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "min": ordered[0],
        "max": ordered[-1],
    }


def browser_figures(server: PorchServer, profile: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with sync_playwright() as playwright, bench.sites(server) as sites:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        results["chromium"] = browser.version
        plain = [bench.plain_pyodide(browser, server) for _ in range(profile["plain_runs"])]
        results["plain_pyodide"] = {k: stats([p[k] for p in plain]) for k in plain[0]}
        for site in sites:
            cold: list[dict[str, float]] = []
            warm: list[dict[str, float]] = []
            base: list[dict[str, float]] = []
            for _ in range(profile["runs"]):
                context = browser.new_context()
                base.append(bench.baseline_visit(context, site.host_url, site.script))
                context.close()
                context = browser.new_context()
                cold.append(bench.visit(context, site.host_url))
                warm.append(bench.visit(context, site.host_url))
                context.close()
            for label, runs in (("cold", cold), ("warm", warm), ("baseline", base)):
                results[f"{site.name}/{label}"] = {k: stats([r[k] for r in runs]) for k in runs[0]}
        # A visitor's pointer rests on the launcher before the click: the hover has loaded the
        # panel and prefetched the runtime by then (Playwright's click has no such pause).
        # Since issue 15 the rest also pre-boots the runtime: the click only connects.
        native = [site for site in sites if site.variant == "native"]
        for site in native:
            cold, warm = [], []
            for _ in range(profile.get("dwell_runs", 0)):
                context = browser.new_context()
                cold.append(bench.visit(context, site.host_url, dwell_ms=500))
                warm.append(bench.visit(context, site.host_url, dwell_ms=500))
                context.close()
            for label, runs in (("cold", cold), ("warm", warm)):
                if runs:
                    results[f"{site.name}/{label} hover 500 ms"] = {
                        k: stats([r[k] for r in runs]) for k in runs[0]
                    }
        # The agent console: a fresh profile, then a second visit in it.
        console: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
        for _ in range(profile["runs"]):
            context = browser.new_context()
            for label in ("cold", "warm"):
                console[label].append(bench.console_ready(context, server))
            context.close()
        for label, runs in console.items():
            results[f"agent console/{label}"] = {k: stats([r[k] for r in runs]) for k in runs[0]}
        # What a pre-boot holds in memory until the click, and that its release gives it back.
        memory = [
            bench.preboot_memory(browser, sites[0].host_url.replace("index.html", "preboot.html"))
            for _ in range(profile.get("memory_runs", 1))
        ]
        results["cross-site/preboot memory"] = {k: stats([m[k] for m in memory]) for k in memory[0]}
        same_origin = next(site for site in native if site.name == "same-origin")
        # Only with the pointer resting first: CDP's network emulation does not reach a dedicated
        # worker started by a frame (this Chromium answers "Not supported" to
        # Network.emulateNetworkConditions on the worker's target and ignores the rule-based form
        # there), so a click at once would time an unthrottled worker. After a rest the worker
        # joins the panel's prefetches, which are throttled. With `loading: "click"`: a rest would
        # otherwise start the (unthrottled) worker itself. Throttling below the browser (a proxy)
        # would measure both.
        for network in profile["networks"]:
            for dwell in (1000,):
                runs = []
                for _ in range(profile["network_runs"]):
                    context = browser.new_context()
                    runs.append(
                        bench.visit(
                            context,
                            same_origin.host_url,
                            network=network,
                            dwell_ms=dwell,
                            loading="click",
                        )
                    )
                    context.close()
                results[f"same-origin/cold {network} hover {dwell} ms"] = {
                    k: stats([r[k] for r in runs]) for k in runs[0]
                }
        browser.close()
    return results


def script_sizes() -> dict[str, dict[str, int]]:
    """The host scripts' bytes as built, and as the server sends them (its gzip and Brotli
    siblings, written by the build)."""
    folder = ROOT / "public" / "install"
    sizes: dict[str, dict[str, int]] = {}
    for name in ("core.js", "tawk.js"):
        sizes[name] = {
            encoding: (folder / (name + suffix)).stat().st_size
            for encoding, suffix in (("raw", ""), ("gzip", ".gz"), ("brotli", ".br"))
            if (folder / (name + suffix)).exists()
        }
    return sizes


def server_figures(server: PorchServer, profile: dict[str, Any]) -> dict[str, Any]:
    assert server.process is not None
    return load.run_in_own_process(server.url, server.process.pid, server.log_path, profile["load"])


def fmt(value: float, unit: str) -> str:
    if unit == "B":
        # Decimal units, as the targets (20 KB, 5 MB) and its Pyodide sizes are given.
        return f"{value / 1e3:.1f} KB" if value < 1e6 else f"{value / 1e6:.2f} MB"
    if unit == "ms":
        return f"{value:.0f}"
    return f"{value:.3f}" if value % 1 else f"{value:.0f}"


def cell(s: dict[str, float], unit: str) -> list[str]:
    if not s:
        return ["n/a"] * 3
    return [
        fmt(s["median"], unit),
        fmt(s["p90"], unit),
        f"{fmt(s['min'], unit)}-{fmt(s['max'], unit)}",
    ]


ENCODINGS = ("raw", "gzip", "brotli")
#: The figures of the native and tawk.to embeds side by side (both cross-site).
COMPARED = (
    "pre_intent_bytes",
    "pre_intent_requests",
    "pre_intent_pyodide_bytes",
    "total_script_ms",
    "pre_intent_script_ms",
    "host_script_ms",
    "host_long_tasks",
    "host_layout_shift",
    "launcher_visible_ms",
    "tawk_load_ms",
    "panel_focused_ms",
    "click_to_activated_ms",
    "first_open_bytes",
)


def comparison(report: dict[str, Any]) -> list[str]:
    """Native (core.js) vs tawk.to's snippet (tawk.js), cross-site, cold and warm, next to the
    page without either, and the two scripts' sizes."""
    browser = report["browser"]
    native, tawk = "cross-site", "tawk cross-site"
    if f"{tawk}/cold" not in browser:
        return []
    lines = [
        "",
        "## tawk.to's snippet (tawk.js) vs the native snippet (core.js), cross-site",
        "",
        'Medians. "page alone" is each page with its Porch script blocked (same run).',
        "",
        "| figure | native cold | tawk cold | native warm | tawk warm "
        "| page alone: native / tawk |",
        "|---|---|---|---|---|---|",
    ]
    for key in COMPARED:
        label, unit, _target, base_key = FIGURES[key]
        cells = []
        for case in (f"{native}/cold", f"{tawk}/cold", f"{native}/warm", f"{tawk}/warm"):
            s = browser.get(case, {}).get(key)
            cells.append(fmt(s["median"], unit) if s else "")
        base = ""
        if base_key and base_key.startswith("baseline_"):
            pair = [
                browser.get(f"{name}/baseline", {}).get(base_key.removeprefix("baseline_"))
                for name in (native, tawk)
            ]
            if all(pair):
                base = " / ".join(fmt(b["median"], unit) for b in pair if b)
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {base} |")
    sizes = report.get("scripts", {})
    if sizes:
        lines += [
            "",
            "| host script | built | gzip | Brotli (what Chromium gets) |",
            "|---|---|---|---|",
        ]
        for name, size in sizes.items():
            lines.append(
                f"| `{name}` | "
                + " | ".join(f"{size[e]:,} B" if e in size else "" for e in ENCODINGS)
                + " |"
            )
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Porch benchmark, {report['started']} ({report['profile']} profile)",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items() if v != ""),
        f"Chromium {report['browser'].get('chromium', '?')}. Medians of {report['runs']} runs "
        "unless n says otherwise. Times in ms.",
        "",
        "## Browser",
        "",
        "| figure | case | median | p90 | min-max | n | baseline median | ratio | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    browser = report["browser"]
    plain = browser.get("plain_pyodide", {})
    for case, figures in browser.items():
        if case in ("chromium", "plain_pyodide") or case.endswith("/baseline"):
            continue
        base = browser.get(case.split("/")[0] + "/baseline", {})
        for key, (label, unit, target, base_key) in FIGURES.items():
            s = figures.get(key)
            if not s:
                continue
            b: dict[str, float] = {}
            if base_key and base_key.startswith("baseline_"):
                b = base.get(base_key.removeprefix("baseline_"), {})
            elif base_key:
                b = plain.get(base_key, {})
            ratio = ""
            if b and b.get("median"):
                ratio = f"{s['median'] / b['median']:.2f}"
            lines.append(
                "| "
                + " | ".join(
                    [
                        label,
                        case,
                        *cell(s, unit),
                        str(s["n"]),
                        fmt(b["median"], unit) if b else "",
                        ratio,
                        target,
                    ]
                )
                + " |"
            )
    if plain:
        lines.append(
            "| plain `loadPyodide` in a worker (baseline) | cold | "
            + " | ".join(cell(plain["plain_boot_ms"], "ms"))
            + f" | {plain['plain_boot_ms']['n']}"
            + " |  |  | 2.8-4.2 s |"
        )
    lines += comparison(report)
    server = report["server"]
    lines += ["", "## Server (one process, loopback, load generator in another process)", ""]
    if "error" in server:
        lines.append("The load generator failed:\n\n```\n" + server["error"] + "\n```")
    else:
        c = server["connections"]
        lines += [
            "| figure | value | target |",
            "|---|---|---|",
            f"| idle visitor connections held (wanted {c['wanted']}) | {c['open']} "
            f"({c['errors']} errors, {c['seconds']:.1f} s to open) | >= 10,000 |",
            f"| memory per idle connection (RSS delta / connections) | "
            f"{c['kib_per_connection']:.1f} KiB | <= 40 KiB |",
        ]
        rt = server.get("round_trip_ms", {})
        if rt:
            lines.append(
                f"| visitor -> agent -> visitor, {rt['others_connected']} others connected "
                f"(n {rt['n']}) | p50 {rt['p50']:.1f} ms, p99 {rt['p99']:.1f} ms | "
                "p50 <= 5 ms, p99 <= 20 ms |"
            )
        routing = server.get("routing", {})
        if routing:
            ack = routing["ack_ms"]
            lines.append(
                f"| messages routed per second ({routing['senders']} senders, "
                f"{routing['seconds']:.0f} s, a console receiving them) | "
                f"{routing['per_second']:.0f}/s, ack p50 {ack.get('p50', float('nan')):.0f} ms, "
                f"p99 {ack.get('p99', float('nan')):.0f} ms; the console got "
                f"{routing.get('console_received', 0):,} of {routing['messages']:,} | "
                ">= 5,000/s, p99 <= 50 ms |"
            )
    return "\n".join(lines) + "\n"


#: Where the committed runs are, whichever ``--out`` this run writes to (CI writes elsewhere).
HISTORY = ROOT / "bench" / "results"


def previous_run(out: Path = HISTORY) -> tuple[str, dict[str, Any]] | None:
    """The latest run committed under ``out`` (as committed: ``git show HEAD:``), or None."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--full-name", "--", str(out)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout, or no git: nothing to compare with
    # The scale profile's and the soak's own runs (scale.py, soak.py) are other tables.
    runs = sorted(
        n for n in listed if n.endswith(".json") and not n.endswith(("-scale.json", "-soak.json"))
    )
    if not runs:
        return None
    committed = subprocess.run(
        ["git", "show", f"HEAD:{runs[-1]}"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return Path(runs[-1]).stem, dict(json.loads(committed))


def moves(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """Each browser figure whose median moved by more than the noise since ``previous``: more than
    the wider of the two runs' min-max spreads (a single run has none: every change counts)."""
    lines = []
    before = previous.get("browser", {})
    for case, figures in report["browser"].items():
        if not isinstance(figures, dict) or case not in before:
            continue
        for key, now in figures.items():
            was = before[case].get(key) if isinstance(before[case], dict) else None
            if not now or not was:
                continue
            noise = max(now["max"] - now["min"], was["max"] - was["min"])
            change = now["median"] - was["median"]
            if abs(change) <= noise:
                continue
            # The plain Pyodide boot's figures are not in FIGURES.
            label, unit = FIGURES[key][:2] if key in FIGURES else (key, key[key.rindex("_") + 1 :])
            unit = {"bytes": "B", "ms": "ms"}.get(unit, unit)
            percent = f" ({change / was['median']:+.0%})" if was["median"] else ""
            lines.append(
                f"| {label} | {case} | {fmt(was['median'], unit)} | {fmt(now['median'], unit)}"
                f"{percent} | {fmt(noise, unit)} |"
            )
    return lines


def history(report: dict[str, Any], previous: tuple[str, dict[str, Any]] | None) -> list[str]:
    """The section that compares this run with the previous committed one."""
    if previous is None:
        return []
    name, run = previous
    moved = moves(report, run)
    lines = [
        "",
        f"## Moved since the previous committed run ({name}, {run.get('profile', '?')} profile)",
        "",
        "Medians that changed by more than the noise (the wider min-max spread of the two runs). "
        "Server figures are one run each: compare them by eye.",
        "",
    ]
    if not moved:
        return [*lines, "Nothing moved by more than the noise."]
    return [
        *lines,
        "| figure | case | before | now | noise |",
        "|---|---|---|---|---|",
        *moved,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    # The server inherits the raised limit: it must hold thousands of sockets.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = datetime.datetime.now(datetime.UTC)
    began = time.monotonic()
    report: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "profile": args.profile,
        "runs": profile["runs"],
        "machine": machine(),
        "scripts": script_sizes(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = PorchServer(Path(tmp))
        server.start()
        try:
            report["browser"] = browser_figures(server, profile)
            report["server"] = server_figures(server, profile)
        finally:
            server.stop_or_kill()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / started.strftime("%Y-%m-%dT%H%M%SZ")
    # A server of its own, with a fresh SQLite file: the soak watches what grows from nothing.
    plot = stem.with_name(stem.name + "-soak.png")
    report["soak"] = soak.run(profile["soak"], plot.with_suffix(""))
    report["seconds"] = time.monotonic() - began
    text = (
        markdown(report)
        + "\n"
        + soak.markdown(report["soak"], plot.name, level=2)
        + "\n".join(history(report, previous_run()))
        + "\n"
    )
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(text)
    print(f"wrote {stem}.md, .json and {plot.name} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
