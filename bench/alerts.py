"""Alertmanager webhooks at volume through the real HTTP server.

Sends `--groups` distinct alert groups, each `--repeat` times (Alertmanager's
at-least-once resends), from `--senders` concurrent sender processes, to the bot,
whose Slack is the local stand-in running in a process of its own (as Slack would
be); then checks that every group became exactly one incident with one parent
message. Prints one JSON line.
Target: p99 <= 50 ms, >= 200 webhooks/s, 0 duplicate incidents, 0 lost.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slack_process import SLACK_TOKEN, SPAWN, SlackProcess  # noqa: E402
from bot import config  # noqa: E402
from bot.app.localbot import serve_bot  # noqa: E402
from bot.incidents import service  # noqa: E402

TOKEN = "bench-token-000000"


def payload(run: str, n: int) -> bytes:
    labels = {"alertname": f"BenchAlert{n}", "severity": "warning", "env": "bench"}
    return json.dumps({
        "version": "4", "groupKey": f"{run}:{{}}:{{alertname=\"BenchAlert{n}\"}}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "incidentbot", "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels, "commonAnnotations": {"summary": f"bench alert {n}"},
        "externalURL": "http://alertmanager.local",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"bench alert {n}"},
                    "startsAt": "2026-11-29T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.local", "fingerprint": f"{run}-{n}"}],
    }).encode()


def send_all(url: str, bodies: list[bytes]) -> list[tuple[float, int, str | None, str, bool]]:
    session = requests.Session()
    out = []
    for body in bodies:
        started = time.perf_counter()
        r = session.post(url, data=body, timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        ms = (time.perf_counter() - started) * 1000
        answer = r.json() if r.status_code == 200 else {}
        out.append((ms, r.status_code, answer.get("incident"), json.loads(body)["groupKey"],
                    bool(answer.get("created"))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    run = f"bench{random.randrange(10**6)}"
    slack = SlackProcess()
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(
            database_url=f"sqlite:///{tmp}/bench.db",
            slack={"bot_token": SLACK_TOKEN, "signing_secret": "0123456789abcdef0123", "api_url": slack.url},
            alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}},
            incidents={"first_checks": 0},  # the webhook path, not Kafka probes
        )
        ctx, server = serve_bot(settings, threads=16)
        url = f"{server.url}/alerts/alertmanager"
        bodies = [payload(run, n) for n in range(args.groups) for _ in range(args.repeat)]
        random.shuffle(bodies)
        shares = [bodies[i::args.senders] for i in range(args.senders)]
        # Every sender process is up (each imports this module) before the clock starts:
        # a late starter would spend the bot's first second importing beside it.
        everyone = SPAWN.Barrier(args.senders + 1)
        with SPAWN.Pool(args.senders, initializer=everyone.wait) as pool:
            everyone.wait()
            wall = time.perf_counter()
            results = [r for share in pool.starmap(send_all, [(url, s) for s in shares]) for r in share]
            wall = time.perf_counter() - wall
        ctx.work.wait_idle(600)
        ours = [i for i in service.list_open(ctx.engine, limit=100_000) if i.labels.get("env") == "bench"]
        server.stop()
        ctx.close()
    parents = slack.finish()["parents"]
    latencies = [ms for ms, _, _, _, _ in results]
    first = sorted(ms for ms, _, _, _, created in results if created)
    repeats = sorted(ms for ms, _, _, _, created in results if not created)
    refs_per_group: dict[str, set[str]] = {}
    for _, status, ref, key, _ in results:
        if status == 200 and ref:
            refs_per_group.setdefault(key, set()).add(ref)
    print(json.dumps({
        "sent": len(results),
        "incidents": len(ours),
        "parent_messages": parents,
        "duplicate_incidents": sum(len(r) - 1 for r in refs_per_group.values()) + max(0, len(ours) - args.groups),
        "lost": (args.groups - len(refs_per_group)) + sum(1 for _, status, _, _, _ in results if status != 200),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(sorted(latencies)[int(0.99 * (len(latencies) - 1))], 2),
        "max_ms": round(max(latencies), 2),
        "p99_ms_opening": round(first[int(0.99 * (len(first) - 1))], 2) if first else None,
        "p99_ms_repeats": round(repeats[int(0.99 * (len(repeats) - 1))], 2) if repeats else None,
        "per_s": round(len(results) / wall, 1),
    }))


if __name__ == "__main__":
    main()
