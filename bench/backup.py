"""Backups at scale on the real services: 500 subjects x 4 versions, 1,000 consumer
groups, 200 RabbitMQ queues with bindings and 300 topics are made (batched and
concurrent), everything is backed up (the whole cluster, as the schedule does), the
benchmark's part is restored into empty targets (topic and subject prefix, a fresh
vhost, new group names) and compared field by field with the originals. Everything
made is deleted afterwards.

Prints ONE JSON line:
{"subjects":500,"versions":2000,"groups":1000,"queues":200,"topics":300,"backup_s":…,"restore_s":…,"mismatches":0}
Targets: backup_s <= 30, restore_s <= 60, mismatches 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bot import config, db  # noqa: E402
from bot.actions import ActionContext, execute, restore_backup  # noqa: E402
from bot.backups import archive, definitions, offsets, run, schemas, topics  # noqa: E402
from bot.backups.restore import Target  # noqa: E402
from bot.probes.clients import Clients  # noqa: E402

KAFKA = "127.0.0.1:9092"
REGISTRY = "http://127.0.0.1:8081/apis/ccompat/v7"
MGMT = "http://127.0.0.1:15672"
SR_HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def record(i: int, fields: int) -> str:
    return json.dumps({"type": "record", "name": f"Rec{i}", "namespace": "bench",
                       "fields": [{"name": f"f{n}", "type": ["null", "string"], "default": None}
                                  for n in range(fields)]})


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.p = f"bb{uuid.uuid4().hex[:8]}"
        self.tmp = tempfile.TemporaryDirectory()
        self.settings = config.load(
            database_url=f"sqlite:///{self.tmp.name}/bot.db",
            kafka={"local": {"bootstrap_servers": KAFKA, "request_timeout_s": 15}},
            rabbitmq={"local": {"management_url": MGMT, "request_timeout_s": 15}},
            schema_registry={"local": {"url": REGISTRY, "request_timeout_s": 15}},
            backups={"directory": f"{self.tmp.name}/backups", "workers": 16})
        self.clients = Clients(self.settings)
        self.admin = self.clients.kafka_admin("local")
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
        self.rabbit = requests.Session()
        self.rabbit.auth = ("guest", "guest")
        self.topic_names = [f"{self.p}-t{i:03}" for i in range(args.topics)]
        self.group_names = [f"{self.p}-g{i:04}" for i in range(args.groups)]
        self.subject_names = [f"{self.p}-s{i:03}-value" for i in range(args.subjects)]

    # ------------------------------------------------------------ setup
    def setup(self) -> None:
        a = self.args
        new = [NewTopic(t, 2, 1, config={"retention.ms": str(3_600_000 + i)} if i % 3 == 0 else {})
               for i, t in enumerate(self.topic_names)]
        for start in range(0, len(new), 100):
            for f in self.admin.create_topics(new[start:start + 100], operation_timeout=60).values():
                f.result(timeout=90)
        topics.wait_visible(self.admin, 15, self.topic_names, 60)
        producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 20})
        for t in self.topic_names[:10]:
            for part in (0, 1):
                for n in range(20):
                    producer.produce(t, value=b"x", partition=part)
        producer.flush(60)
        wanted = {g: {(self.topic_names[i % 10], 0): i % 21, (self.topic_names[i % 10], 1): (i * 7) % 21}
                  for i, g in enumerate(self.group_names)}
        failures = offsets.restore(self.admin, 15, wanted)
        assert not failures, failures[:3]

        def subject(i: int) -> None:
            s = self.subject_names[i]
            for v in range(a.versions):
                r = self.http.post(f"{REGISTRY}/subjects/{s}/versions", json={"schema": record(i, v + 1)},
                                   headers=SR_HEADERS, timeout=30)
                assert r.ok, r.text
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(subject, range(a.subjects)))

        vh = f"{self.p}-vh"
        assert self.rabbit.put(f"{MGMT}/api/vhosts/{quote(vh, safe='')}", timeout=30).ok
        assert self.rabbit.put(f"{MGMT}/api/permissions/{quote(vh, safe='')}/guest",
                               json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=30).ok
        body = {"exchanges": [{"name": "events", "type": "topic", "durable": True, "auto_delete": False,
                               "internal": False, "arguments": {}}],
                "queues": [{"name": f"q{i:03}", "durable": True, "auto_delete": False,
                            "arguments": {"x-max-length": 1000 + i} if i % 2 else {}} for i in range(a.queues)],
                "bindings": [{"source": "events", "destination": f"q{i:03}", "destination_type": "queue",
                              "routing_key": f"orders.{i}.#", "arguments": {}} for i in range(a.queues)]}
        assert self.rabbit.post(f"{MGMT}/api/definitions/{quote(vh, safe='')}", json=body, timeout=60).ok

    # ------------------------------------------------------------ the measured parts
    def backup(self) -> archive.Manifest:
        return run.take(self.clients, ["schemas", "offsets", "definitions", "topics"], created_by="bench")

    def restore(self, manifest: archive.Manifest) -> None:
        engine = db.create(self.settings.database_url)
        db.migrate(engine)
        ctx = ActionContext(clients=self.clients, engine=engine, actor="bench")
        targets = [Target(what="topics", backup=manifest.id, cluster="local", prefix="r", only=self.p),
                   Target(what="schemas", backup=manifest.id, cluster="local", prefix="r", only=self.p),
                   Target(what="definitions", backup=manifest.id, cluster="local", vhost=f"{self.p}-vh",
                          into=f"{self.p}-restored")]

        def one(target: Target) -> None:
            plan = restore_backup.plan(ctx, target)
            res = execute(ctx, plan)
            assert res.status == "executed", res.message
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(one, t) for t in targets]
            backup = archive.open_backup(self.settings.backups.directory, manifest.id)
            saved = offsets.parse_csv(backup.text(backup.entries("offsets")[0]))
            # A client of its own: one connection answers in order, and a CreateTopics waiting for
            # the controller would hold the commits behind it.
            own = AdminClient({"bootstrap.servers": KAFKA})
            failures = offsets.restore(own, 15, {f"r{g}": v for g, v in saved.items() if g.startswith(self.p)})
            assert not failures, failures[:3]
            for f in futures:
                f.result()
        engine.dispose()

    def compare(self) -> tuple[int, dict[str, int]]:
        """The originals read live against the restored copies, field by field."""
        p, r = self.p, f"r{self.p}"
        src_topics = topics.collect(self.admin, 15, only=p)
        mism = topics.diff(topics.renamed(src_topics, "r"), topics.collect(self.admin, 15, only=r))
        reg = schemas.Registry("local", self.settings.schema_registry["local"], 16)
        src_subjects = schemas.collect(reg, only=p)
        mism += schemas.diff(schemas.renumbered(schemas.renamed(src_subjects, "r")),
                             schemas.renumbered(schemas.collect(reg, only=r)))
        reg.close()
        src_vh = definitions.vhost_definitions(self.clients, "local", f"{p}-vh") or {}
        mism += definitions.diff_vhost(src_vh, definitions.vhost_definitions(self.clients, "local", f"{p}-restored"),
                                       "v")
        src_groups = offsets.collect(self.admin, 15, groups=self.group_names)
        mism += offsets.diff({f"r{g}": v for g, v in src_groups.items()},
                             offsets.collect(self.admin, 15, groups=[f"r{g}" for g in self.group_names]), extras=True)
        for d in mism[:5]:
            print(d.sentence, file=sys.stderr)
        seen = {"subjects": len(src_subjects["subjects"]), "versions": schemas.counts(src_subjects)["versions"],
                "groups": len(src_groups), "queues": len(src_vh.get("queues", [])),
                "topics": len(src_topics["topics"])}
        return len(mism), seen

    # ------------------------------------------------------------ cleanup
    def cleanup(self) -> None:
        groups = self.group_names + [f"r{g}" for g in self.group_names]
        for start in range(0, len(groups), 200):
            for f in self.admin.delete_consumer_groups(groups[start:start + 200], request_timeout=30).values():
                try:
                    f.result(timeout=60)
                except KafkaException:
                    pass
        existing = set(self.admin.list_topics(timeout=15).topics)
        names = [t for t in self.topic_names + [f"r{t}" for t in self.topic_names] if t in existing]
        for start in range(0, len(names), 100):
            for f in self.admin.delete_topics(names[start:start + 100], operation_timeout=60).values():
                try:
                    f.result(timeout=90)
                except KafkaException:
                    pass

        def drop(s: str) -> None:
            self.http.delete(f"{REGISTRY}/subjects/{s}", timeout=30)
            self.http.delete(f"{REGISTRY}/subjects/{s}?permanent=true", timeout=30)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(drop, self.subject_names + [f"r{s}" for s in self.subject_names]))
        for vh in (f"{self.p}-vh", f"{self.p}-restored"):
            self.rabbit.delete(f"{MGMT}/api/vhosts/{quote(vh, safe='')}", timeout=60)
        self.tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--topics", type=int, default=300)
    args = parser.parse_args()
    bench = Bench(args)
    out: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        bench.setup()
        setup_s = time.monotonic() - t0
        t0 = time.monotonic()
        manifest = bench.backup()
        backup_s = time.monotonic() - t0
        if manifest.errors:
            print(manifest.errors, file=sys.stderr)
        t0 = time.monotonic()
        bench.restore(manifest)
        restore_s = time.monotonic() - t0
        mismatches, seen = bench.compare()
        out = {**seen, "backup_s": round(backup_s, 2), "restore_s": round(restore_s, 2), "mismatches": mismatches,
               "setup_s": round(setup_s, 1), "backup_totals": manifest.counts}
    finally:
        bench.cleanup()
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
