"""Digests and the duplicate scan at size.

Stored samples: a week of lag samples (`--groups` groups × 4 partitions every 15
minutes) and a quarter of hourly topic samples (`--topics` topics), written into a
fresh SQLite database; times the weekly lag p95 and the quarterly trend computed
from them. Kafka: `--messages` messages with unique keys on a 6-partition topic plus
`--planted` keys sent twice; times `/duplicates`' scan of the last hour and checks
it finds exactly the planted ones. Prints one JSON line.
Target: weekly_p95_s <= 5, quarterly_trend_s <= 10, scan_msgs_per_s >= 20,000, found = planted, false 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bot import db  # noqa: E402
from bot.config import KafkaClusterSettings  # noqa: E402
from bot.digests import duplicates, history, stats, tables  # noqa: E402

DAY = 86400.0


def fill(engine, groups: int, topics: int, now: float) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    lag_rows = [("local", f"g{g}", f"t{g % topics}", p, i * 10, i * 10 + (i * 7 + g) % 500, now - 7 * DAY + i * 900)
                for g in range(groups) for p in range(4) for i in range(672)]
    hours = int(92 * 24)
    topic_rows = [("local", f"t{t}", 2, (h * (100 + t)) * 3600, json.dumps([h, h]), now - 92 * DAY + h * 3600)
                  for t in range(topics) for h in range(hours)]
    with db.write(engine) as conn:
        conn.exec_driver_sql("INSERT INTO lag_samples (cluster, group_id, topic, partition, committed, log_end, "
                             "taken_at) VALUES (?, ?, ?, ?, ?, ?, ?)", lag_rows)
        conn.exec_driver_sql("INSERT INTO topic_samples (cluster, topic, partitions, end_total, ends, taken_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", topic_rows)
    return len(lag_rows), len(topic_rows)


def weekly_p95(engine, now: float) -> int:  # type: ignore[no-untyped-def]
    totals = history.lag_totals(engine, "local", now - 7 * DAY, lambda g: True)
    return len([stats.p95([v for _, v in points]) for points in totals.values()])


def quarterly(engine, now: float) -> int:  # type: ignore[no-untyped-def]
    fitted = 0
    for points in tables.daily_history(engine, "local", now - 92 * DAY).values():
        fit = stats.linear_fit(stats.per_day_rates([(t, total) for t, total, _ in points]))
        if fit is not None:
            stats.days_until(fit, now, 2 * 1000.0)
            fitted += 1
    return fitted


def scan(bootstrap: str, messages: int, planted: int) -> dict[str, float | int]:
    topic = f"bench-dups-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    for i in [*range(messages), *range(0, planted * 97, 97)]:
        while True:
            try:
                producer.produce(topic, key=f"id-{i}".encode(), value=b'{"amount": 1}')
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    settings = KafkaClusterSettings(bootstrap_servers=bootstrap, request_timeout_s=10)
    started = time.perf_counter()
    found = duplicates.scan(settings, admin, topic, duplicates.parse_key("message-key"), 3600, messages * 2,
                            datetime.now(timezone.utc))
    seconds = time.perf_counter() - started
    expected = {f"id-{i}" for i in range(0, planted * 97, 97)}
    got = {d.event_id for d in found.duplicates}
    admin.delete_topics([topic])[topic].result(timeout=30)
    return {"scan_messages": found.read, "scan_s": round(seconds, 2), "scan_msgs_per_s": round(found.read / seconds),
            "planted": planted, "found": len(got & expected), "false": len(got - expected)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--topics", type=int, default=300)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=100)
    a = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create(f"sqlite:///{tmp}/bench.db")
        db.migrate(engine)
        lag_rows, topic_rows = fill(engine, a.groups, a.topics, now)
        started = time.perf_counter()
        groups = weekly_p95(engine, now)
        weekly_s = time.perf_counter() - started
        started = time.perf_counter()
        fitted = quarterly(engine, now)
        quarterly_s = time.perf_counter() - started
        engine.dispose()
    out = {"lag_rows": lag_rows, "groups": groups, "weekly_p95_s": round(weekly_s, 2), "topic_rows": topic_rows,
           "topics_fitted": fitted, "quarterly_trend_s": round(quarterly_s, 2)}
    out.update(scan(a.bootstrap, a.messages, a.planted))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
