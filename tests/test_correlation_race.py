"""Two replicas on one PostgreSQL database receiving the same problem at the same
moment from two sources (Alertmanager and the watch) open one incident: the subject
claim's primary key refuses the second, whose retry joins the first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bot import db
from bot.alerts.models import Alert, AlertBatch
from bot.incidents import ingest
from bot.incidents.tables import alert_dedup, incidents
from bot.runbooks import load_all
from tests.conftest import make_settings


def batch(source: str, cluster: str, group: str) -> AlertBatch:
    labels = {"alertname": "KafkaConsumerLagHigh", "cluster": cluster, "consumergroup": group, "severity": "warning"}
    return AlertBatch(source=source, group_key=f"{source}-{group}", status="firing", title=f"{group} lags",
                      common_labels=labels, alerts=[Alert(fingerprint=f"{source}-{group}", status="firing",
                                                          name="KafkaConsumerLagHigh", severity="warning",
                                                          labels=labels, annotations={})])


def test_the_same_problem_from_two_sources_on_two_replicas_opens_one_incident(tmp_path: Path, postgres: str,
                                                                              unique: str) -> None:
    settings = make_settings(tmp_path, database_url=postgres)
    runbooks = load_all()
    replicas = [db.create(postgres), db.create(postgres)]
    db.migrate(replicas[0])
    groups = [f"g{n}-{unique}" for n in range(20)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(n: int) -> None:
        engine, source, seen = replicas[n], ("alertmanager", "watch")[n], ingest.SeenGroups()
        start.wait()
        for group in groups:
            try:
                ingest.receive(engine, settings, runbooks, batch(source, "prod", group), time.time(), seen)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        with replicas[0].connect() as conn:
            opened = conn.execute(select(incidents.c.group_id, func.count()).group_by(incidents.c.group_id)).all()
            keys = conn.execute(select(alert_dedup.c.incident_id, func.count()).group_by(alert_dedup.c.incident_id)).all()
        assert sorted(opened) == sorted((g, 1) for g in groups)  # one incident per group
        assert sorted(n for _, n in keys) == [2] * len(groups)  # each holding both sources' alert groups
    finally:
        for engine in replicas:
            db.dispose(engine)
