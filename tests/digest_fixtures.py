"""Known data for the digest tests: rows written straight into the samples tables
(at times in the past, which no probe could produce), and a bot whose digests cover
one test's names only (the cluster is shared)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import requests
from sqlalchemy import Engine, insert

from bot import db
from bot.digests.tables import group_samples, schema_seen, topic_samples
from bot.evidence.depth_history import depth_samples
from bot.evidence.lag_history import lag_samples
from bot.incidents.tables import incidents
from tests.conftest import SCHEMA_REGISTRY

CONTENT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def lag_rows(engine: Engine, group: str, at: float, rows: list[tuple[str, int, int | None, int]]) -> None:
    """rows: (topic, partition, committed, log_end) as one probe at `at`."""
    with db.write(engine) as conn:
        conn.execute(insert(lag_samples), [{"cluster": "local", "group_id": group, "topic": t, "partition": p,
                                            "committed": c, "log_end": e, "taken_at": at} for t, p, c, e in rows])


def depth_row(engine: Engine, kind: str, cluster: str, name: str, at: float, **data: Any) -> None:
    data["taken_at"] = datetime.fromtimestamp(at, timezone.utc).isoformat()
    with db.write(engine) as conn:
        conn.execute(insert(depth_samples).values(kind=kind, cluster=cluster, name=name, taken_at=at, data=data))


def topic_row(engine: Engine, topic: str, at: float, ends: list[int]) -> None:
    with db.write(engine) as conn:
        conn.execute(insert(topic_samples).values(cluster="local", topic=topic, partitions=len(ends),
                                                  end_total=sum(ends), ends=ends, taken_at=at))


def group_row(engine: Engine, group: str, topic: str, at: float, committed: int, members: int) -> None:
    with db.write(engine) as conn:
        conn.execute(insert(group_samples).values(cluster="local", group_id=group, topic=topic,
                                                  committed_total=committed, members=members, taken_at=at))


def seen_row(engine: Engine, subject: str, version: int, at: float, baseline: bool = False) -> None:
    with db.write(engine) as conn:
        conn.execute(insert(schema_seen).values(registry="local", subject=subject, version=version, schema_id=None,
                                                first_seen=at, baseline=baseline))


def incident_row(engine: Engine, ref: str, title: str, created: float, resolved: float | None = None) -> None:
    with db.write(engine) as conn:
        conn.execute(insert(incidents).values(
            ref=ref, title=title, severity="warning", status="resolved" if resolved else "open",
            alerts_resolved=False, runbook_id="generic-triage", labels={}, source="slack", created_at=created,
            updated_at=resolved or created, resolved_at=resolved))


def register(subject: str, fields: int) -> None:
    """A record schema with `fields` optional fields: each version adds one (backward compatible)."""
    schema = {"type": "record", "name": "Order", "namespace": "shop",
              "fields": [{"name": f"f{i}", "type": ["null", "string"], "default": None} for i in range(fields)]}
    requests.post(f"{SCHEMA_REGISTRY}/subjects/{subject}/versions", headers=CONTENT, timeout=5,
                  data=json.dumps({"schema": json.dumps(schema)})).raise_for_status()


def drop_subject(subject: str) -> None:
    for params in ({}, {"permanent": "true"}):
        requests.delete(f"{SCHEMA_REGISTRY}/subjects/{subject}", params=params, timeout=5)


def section(digest: Any, title_start: str) -> Any:
    found = [s for s in digest.sections if s.title.startswith(title_start)]
    assert len(found) == 1, [s.title for s in digest.sections]
    return found[0]


def rows(report: Any, table: int = 0) -> list[list[str]]:
    return report.tables[table].rows  # type: ignore[no-any-return]
