"""All-groups lag: the bot against Kafka's own consumer-groups command.

On the real local Kafka, creates `--groups` groups over one topic of `--partitions`
partitions, each group with a different lag; times the bot's all-groups lag
computation (probe, stored samples, verdicts: what `/lag` runs) `--runs` times and
`kafka-consumer-groups --describe --all-groups` once, compares every partition's
lag, and prints one JSON line.
Target (issue #11): bot_ms (median) <= 400 at --groups 1000, mismatches 0.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bot import config, db  # noqa: E402
from bot.evidence import lag  # noqa: E402
from bot.evidence.lag_memory import LagMemory  # noqa: E402
from bot.probes.clients import Clients  # noqa: E402
from tests import kafka_tool  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--messages", type=int, default=500, help="per partition")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", metavar="PATH", help="write cProfile stats of the timed runs to PATH")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    topic = f"bench-lag-{run}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 20})
    for p in range(args.partitions):
        for i in range(args.messages):
            producer.produce(topic, value=b"x", partition=p)
    producer.flush(60)
    groups = [f"bench-{run}-{i:03d}" for i in range(args.groups)]
    futures = []
    for i, g in enumerate(groups):
        # Each group a different lag; each partition of a group a different one too.
        offsets = [TopicPartition(topic, p, (i * 7 + p * 13) % args.messages) for p in range(args.partitions)]
        futures.append(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, offsets)])[g])
    for f in futures:
        f.result(timeout=30)

    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(database_url=f"sqlite:///{tmp}/bench.db",
                               kafka={"local": {"bootstrap_servers": args.bootstrap}})
        engine = db.create(settings.database_url)
        db.migrate(engine)
        clients = Clients(settings)
        memory = LagMemory()  # the process's, as the bot keeps it (bot.app.context)
        # connect, warm up
        lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=groups[:1],
                              memory=memory)
        # The follower of __consumer_offsets reads the topic's history once after a start
        # (looks meanwhile ask each group, as before it existed); what /lag costs in a
        # running bot is timed after that, and the catch-up is reported beside it.
        follower, ready_started = clients.offsets_log("local"), time.perf_counter()
        while follower is not None and follower.committed(clients.kafka_admin("local"), [], 10) is None:
            time.sleep(0.05)
        follower_ready_s = time.perf_counter() - ready_started
        timings, report = [], None
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.runs):
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            report = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", memory=memory)
            if profiler:
                profiler.disable()
            timings.append((time.perf_counter() - started) * 1000)
        if profiler:
            profiler.dump_stats(args.profile)
        clients.close()

    started = time.perf_counter()
    cli_rows, _ = kafka_tool.describe(args.bootstrap)
    cli_ms = (time.perf_counter() - started) * 1000

    assert report is not None
    ours = {(a.group.group, p.topic, p.partition): p.cli_lag for a in report.groups for p in a.group.partitions}
    theirs = {(r.group, r.topic, r.partition): r.lag for r in cli_rows if r.group in set(groups)}
    mismatches = sum(1 for key, value in theirs.items() if ours.get(key, "missing") != value)
    mismatches += sum(1 for key in ours if key[0] in set(groups) and key not in theirs)
    bot_ms = statistics.median(timings)
    print(json.dumps({
        "groups": args.groups,
        "partitions": args.groups * args.partitions,
        "groups_in_cluster": len(report.groups),
        "rows_compared": len(theirs),
        "bot_ms": round(bot_ms, 1),
        "bot_ms_runs": [round(t, 1) for t in timings],
        "cli_ms": round(cli_ms, 1),
        "speedup": round(cli_ms / bot_ms, 1),
        "mismatches": mismatches,
        "offsets_log_records": follower.records if follower else None,
        "offsets_log_ready_s": round(follower_ready_s, 2),
    }))
    for future in admin.delete_consumer_groups(groups).values():
        future.result(timeout=30)
    admin.delete_topics([topic])[topic].result(timeout=30)


if __name__ == "__main__":
    main()
