"""A small world to back up, made with unique names on the shared services, and its
removal: topics with configs, subjects with versions and references, a vhost with
queues, exchanges, bindings and a policy, consumer groups with committed offsets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

import requests
from confluent_kafka import KafkaException

from tests import kafka_fixtures as kf
from tests.conftest import RABBIT_MGMT, SCHEMA_REGISTRY

SR_HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
RABBIT = requests.Session()
RABBIT.auth = ("guest", "guest")


def record(name: str, fields: list[str]) -> str:
    return json.dumps({"type": "record", "name": name,
                       "fields": [{"name": f, "type": ["null", "string"], "default": None} for f in fields]})


def sr(method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{SCHEMA_REGISTRY}/{path}", json=body, headers=SR_HEADERS, timeout=10)


def rabbit(method: str, path: str, body: object = None) -> requests.Response:
    return RABBIT.request(method, f"{RABBIT_MGMT}/api/{path}", json=body, timeout=10)


@dataclass
class World:
    prefix: str
    topics: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    vhosts: list[str] = field(default_factory=list)

    @property
    def vhost(self) -> str:
        return f"{self.prefix}-vh"

    def build(self) -> World:
        p = self.prefix
        # Topics: one with configs set on it, one plain.
        kf.create_topic(f"{p}-orders", 3, {"retention.ms": "3600000", "cleanup.policy": "compact"})
        kf.create_topic(f"{p}-audit", 2)
        self.topics += [f"{p}-orders", f"{p}-audit"]
        kf.produce(f"{p}-orders", {0: 5, 1: 5, 2: 5})
        kf.commit(f"{p}-billing", {(f"{p}-orders", 0): 3, (f"{p}-orders", 1): 5, (f"{p}-orders", 2): 1})
        kf.commit(f"{p}-search", {(f"{p}-orders", 0): 5})
        self.groups += [f"{p}-billing", f"{p}-search"]
        # Subjects: three versions under FULL, and one referencing the first.
        base, ref = f"{p}-customer-value", f"{p}-order-value"
        self.subjects += [ref, base]
        for i, fields in enumerate((["id"], ["id", "name"], ["id", "name", "email"])):
            assert sr("POST", f"subjects/{base}/versions", {"schema": record("Customer", fields)}).ok
            if i == 0:
                assert sr("PUT", f"config/{base}", {"compatibility": "NONE"}).ok
        assert sr("PUT", f"config/{base}", {"compatibility": "FULL"}).ok
        order = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "customer", "type": "Customer"}]})
        answer = sr("POST", f"subjects/{ref}/versions", {"schema": order, "references": [
            {"name": "Customer", "subject": base, "version": 2}]})
        assert answer.ok, answer.text
        # A vhost: a topic exchange bound to two queues (one with a dead-letter argument), a policy.
        v = quote(self.vhost, safe="")
        assert rabbit("PUT", f"vhosts/{v}").ok
        self.vhosts.append(self.vhost)
        assert rabbit("PUT", f"permissions/{v}/guest", {"configure": ".*", "write": ".*", "read": ".*"}).ok
        assert rabbit("PUT", f"exchanges/{v}/events", {"type": "topic", "durable": True}).ok
        assert rabbit("PUT", f"queues/{v}/orders", {"durable": True,
                                                     "arguments": {"x-dead-letter-exchange": "dlx"}}).ok
        assert rabbit("PUT", f"queues/{v}/orders.dlq", {"durable": True}).ok
        assert rabbit("POST", f"bindings/{v}/e/events/q/orders", {"routing_key": "order.*"}).ok
        assert rabbit("POST", f"bindings/{v}/e/events/q/orders.dlq", {"routing_key": "dead.#"}).ok
        assert rabbit("PUT", f"policies/{v}/ttl", {"pattern": "^orders$", "definition": {"message-ttl": 60000},
                                                    "apply-to": "queues", "priority": 1}).ok
        return self

    def cleanup(self) -> None:
        admin = kf.admin()
        if self.groups:
            for future in admin.delete_consumer_groups(self.groups, request_timeout=10).values():
                try:
                    future.result(timeout=15)
                except KafkaException:
                    pass
        existing = set(admin.list_topics(timeout=10).topics)
        mine = [t for t in self.topics if t in existing]
        if mine:
            for future in admin.delete_topics(mine, operation_timeout=30).values():
                try:
                    future.result(timeout=30)
                except KafkaException:
                    pass
        for subject in self.subjects:
            sr("DELETE", f"subjects/{quote(subject, safe='')}")
            sr("DELETE", f"subjects/{quote(subject, safe='')}?permanent=true")
        for vhost in self.vhosts:
            rabbit("DELETE", f"vhosts/{quote(vhost, safe='')}")
