"""How fast the bot acknowledges slash commands over real HTTP with real signing.

Slack gives an app 3 seconds; the roadmap's target is p99 <= 100 ms at 50 commands
a second. Sends `--count` commands (`/incident help`, answered in the ack, and
`/ops status`, acknowledged then worked on against the real brokers) from
`--concurrency` threads and prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bot import config
from bot.app.localbot import LocalBot


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--command", default="/incident help")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(database_url=f"sqlite:///{tmp}/bench.db")
        with LocalBot(settings) as bot:
            bot.slash(args.command)  # warm-up: imports, connections, first Bolt request

            def one(_: int) -> tuple[float, int]:
                started = time.perf_counter()
                response = bot.slash(args.command, wait=False)
                return (time.perf_counter() - started) * 1000, response.status_code

            wall = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, range(args.count)))
            wall = time.perf_counter() - wall
            bot.ctx.work.wait_idle(timeout=300)
    latencies = [ms for ms, _ in results]
    print(json.dumps({
        "bench": "ack_latency",
        "command": args.command,
        "count": args.count,
        "concurrency": args.concurrency,
        "ok": sum(1 for _, status in results if status == 200),
        "ack_ms_p50": round(percentile(latencies, 50), 2),
        "ack_ms_p95": round(percentile(latencies, 95), 2),
        "ack_ms_p99": round(percentile(latencies, 99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "ack_ms_mean": round(statistics.fmean(latencies), 2),
        "commands_per_s": round(args.count / wall, 1),
    }))


if __name__ == "__main__":
    main()
