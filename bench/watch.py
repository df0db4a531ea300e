"""Watch rounds at scale: `--groups` consumer groups of `--partitions` partitions each
and `--dlqs` DLQ topics on the real Kafka, watched every `--interval` seconds for
`--seconds` by the timer owner of a real `serve` bot (Slack: the local stand-in in a
process of its own). `--breaching` of the groups are left with lag and nobody reading
(stuck: a breach); the rest are caught up. Prints one JSON line.
Target: round p99 <= 2,000 ms, no overlap, average CPU <= 25% of one core, RSS <= 300 MB,
incidents_opened == breaching.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.slack_process import SLACK_TOKEN, SlackProcess  # noqa: E402
from bot import config  # noqa: E402
from bot.app.localbot import serve_bot  # noqa: E402
from bot.incidents.tables import incidents  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def setup(admin: AdminClient, bootstrap: str, run: str, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    topic = f"bench-watch-{run}"
    dlqs = [f"bench-watch-{run}-src{i:03d}.dlq" for i in range(args.dlqs)]
    for future in admin.create_topics([NewTopic(topic, args.partitions, 1)]
                                      + [NewTopic(d, 1, 1) for d in dlqs]).values():
        future.result(timeout=60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for p in range(args.partitions):
        for _ in range(args.messages):
            producer.produce(topic, value=b"x", partition=p)
    producer.flush(60)
    groups = [f"bench-watch-{run}-g{i:04d}" for i in range(args.groups)]
    futures = []
    for i, g in enumerate(groups):
        at = 0 if i < args.breaching else args.messages  # breaching: everything waiting; the rest caught up
        offsets = [TopicPartition(topic, p, at) for p in range(args.partitions)]
        futures.append(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, offsets)])[g])
    for f in futures:
        f.result(timeout=60)
    return groups, [topic, *dlqs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--dlqs", type=int, default=100)
    parser.add_argument("--breaching", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000, help="per partition: a breaching group lags all")
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    groups, topics = setup(admin, args.bootstrap, run, args)
    slack = SlackProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = config.load(
                database_url=f"sqlite:///{tmp}/bench.db",
                kafka={"local": {"bootstrap_servers": args.bootstrap, "request_timeout_s": 10}},
                rabbitmq={"local": {}},
                slack={"bot_token": SLACK_TOKEN, "signing_secret": "0123456789abcdef0123", "api_url": slack.url},
                watch={"enabled": True, "interval_s": args.interval, "rabbitmq": {},
                       "kafka": {"local": {"groups": [f"bench-watch-{run}-g*"], "dlqs": [f"bench-watch-{run}-*"]}}},
            )
            ctx, server = serve_bot(settings, threads=8)
            try:
                cpu0, t0 = cpu_seconds(), time.monotonic()
                time.sleep(args.seconds)
                cpu = cpu_seconds() - cpu0
                wall = time.monotonic() - t0
                ctx.watcher.stop()
                ctx.work.wait_idle(60)
                rounds = list(ctx.watcher.durations)
                with ctx.engine.connect() as conn:
                    opened = conn.execute(select(func.count()).select_from(incidents)
                                          .where(incidents.c.source == "watch")).scalar_one()
            finally:
                server.stop()
                ctx.close()
    finally:
        slack.finish()
        for future in admin.delete_consumer_groups(groups).values():
            future.result(timeout=60)
        for future in admin.delete_topics(topics).values():
            future.result(timeout=60)
    durations = [ms for _, ms in rounds]
    overlaps = sum(1 for (s0, d0), (s1, _) in zip(rounds, rounds[1:]) if s1 < s0 + d0 / 1000)
    print(json.dumps({
        "groups": args.groups, "partitions": args.groups * args.partitions, "dlqs": args.dlqs,
        "rounds": len(rounds),
        "round_p50_ms": round(statistics.median(durations), 1) if durations else None,
        "round_p99_ms": round(percentile(durations, 0.99), 1) if durations else None,
        "round_max_ms": round(max(durations), 1) if durations else None,
        "overlaps": overlaps, "skipped": ctx.watcher.skipped,
        "cpu_pct": round(100 * cpu / wall, 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "breaching": args.breaching, "incidents_opened": opened,
    }))


if __name__ == "__main__":
    main()
