"""The escalation ladder under load: `--incidents` incidents opened through the
alert webhook within a few seconds, the ladder at time scale `--scale` (600: a
minute lasts 0.1 s), run to the end against the real brokers and the local Slack
stand-in. Prints one JSON line.
Target: every step fired exactly once, lateness p99 <= 250 ms, RSS <= 250 MB.
Lateness is measured when a step is claimed, i.e. when its timer went off (in the
bot's timer process); RSS counts the bot's process and its timer process.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slack_process import SLACK_TOKEN, SlackProcess  # noqa: E402
from bot import config  # noqa: E402
from bot.app.localbot import serve_bot  # noqa: E402
from bot.incidents import ladder  # noqa: E402

TOKEN = "bench-token-000000"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--scale", type=float, default=600)
    parser.add_argument("--database-url", default=None,
                        help="default: a new SQLite file; e.g. postgresql+psycopg://postgres@127.0.0.1:5433/bench")
    args = parser.parse_args()
    slack = SlackProcess()
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(
            database_url=args.database_url or f"sqlite:///{tmp}/bench.db",
            slack={"bot_token": SLACK_TOKEN, "signing_secret": "0123456789abcdef0123", "api_url": slack.url},
            alerts={"sources": {"generic": {"bearer_token": TOKEN}}},
            escalation={"time_scale": args.scale, "platform_users": ["U0DAVE"]},
            teams={"core": {"lead_users": ["U0CAROL"]}}, default_team="core",
            incidents={"first_checks": 0},
        )
        ctx, server = serve_bot(settings, threads=16)
        try:
            session = requests.Session()

            def open_one(n: int) -> None:
                r = session.post(f"{server.url}/alerts/generic", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"},
                                 json={"title": f"bench incident {n}", "dedup_key": f"bench-{n}",
                                       "labels": {"consumergroup": f"bench-group-{n % 10}"}})
                r.raise_for_status()

            started = time.time()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(open_one, range(args.incidents)))
            opened_in = time.time() - started
            last_due = started + opened_in + settings.escalation.seconds(max(s.minute for s in settings.escalation.steps))
            deadline = last_due + 600
            expected = args.incidents * len(settings.escalation.steps)
            while time.time() < deadline:
                with ctx.engine.connect() as conn:
                    done = conn.exec_driver_sql(
                        "SELECT count(*) FROM escalation_steps WHERE status IN ('fired','failed','cancelled')").scalar()
                if done >= expected:
                    break
                time.sleep(0.2)
            ctx.work.wait_idle(600)
            finished_in = time.time() - started
            with ctx.engine.connect() as conn:
                rows = conn.execute(ladder.escalation_steps.select()).all()
            timers = ctx.escalator.timers if ctx.escalator else None
            timers_rss = peak_rss_mb(timers.pid) if timers and timers.pid else 0.0
        finally:
            server.stop()
            ctx.close()
    posted = slack.finish()
    late_ms = sorted(r.late_by * 1000 for r in rows if r.late_by is not None)
    fired = sum(1 for r in rows if r.status == "fired")
    print(json.dumps({
        "database": (args.database_url or "sqlite").split(":")[0],
        "incidents": args.incidents,
        "steps": len(rows),
        "fired": fired,
        "posted_headers": posted["step_headers"],
        "duplicates": sum(1 for r in rows if r.attempts > 1) + max(0, posted["step_headers"] - len(rows)),
        "missed": len(rows) - fired,
        "lateness_p50_ms": round(statistics.median(late_ms), 1) if late_ms else None,
        "lateness_p99_ms": round(late_ms[int(0.99 * (len(late_ms) - 1))], 1) if late_ms else None,
        "lateness_max_ms": round(late_ms[-1], 1) if late_ms else None,
        "opened_in_s": round(opened_in, 1),
        "finished_in_s": round(finished_in, 1),
        # the bot's process (with this client in it) plus its timer process
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + timers_rss, 1),
        "rss_timers_mb": round(timers_rss, 1),
    }))


if __name__ == "__main__":
    main()
