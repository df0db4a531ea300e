"""Alerts posted to a real Alertmanager reach `incidentbot serve` through its
webhook: one incident per alert group, each with its parent message and runbook
thread in Slack; a resolved alert is said in its incident's thread (issue #12)."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot import db
from bot.incidents.tables import incident_alerts, incidents
from bot.localslack.server import LocalSlack
from tests import alertmanager
from tests.conftest import TOKEN, free_port
from tests.test_escalation_restart import serve

AM_ENV = {"INCIDENTBOT_ALERTS__SOURCES__ALERTMANAGER__BEARER_TOKEN": TOKEN}


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def incidents_by_group(engine: Engine, label: str = "consumergroup") -> dict[str, set[str]]:
    """Each alert group (by its `label`) -> the refs of the incidents holding its alerts."""
    found: dict[str, set[str]] = defaultdict(set)
    with engine.connect() as conn:
        for ref, labels in conn.execute(select(incidents.c.ref, incident_alerts.c.labels)
                                        .join(incidents, incidents.c.id == incident_alerts.c.incident_id)):
            found[labels.get(label, "")].add(ref)
    return dict(found)


def threads(slack: LocalSlack, ref: str) -> tuple[int, int]:
    """How many parent messages name `ref` in the incidents channel, and how many
    runbook checklists were posted into their threads."""
    messages = slack.state.messages("C0INCIDENTS")
    parents = [m for m in messages if ref in m.text and not m.is_reply]
    tss = {m.ts for m in parents}
    checklists = [m for m in messages if m.is_reply and m.thread_ts in tss and m.text.startswith("Runbook:")]
    return len(parents), len(checklists)


def replies(slack: LocalSlack, ref: str) -> list[str]:
    parents = [m for m in slack.state.messages("C0INCIDENTS") if ref in m.text and not m.is_reply]
    return [m.text for p in parents for m in slack.state.messages("C0INCIDENTS", p.ts)]


def test_alertmanager_groups_become_incidents_with_threads_and_resolved_is_said(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> None:
    port = free_port()
    bot = serve(tmp_path, local_slack, port, extra_env={**AM_ENV, "INCIDENTBOT_ESCALATION__TIME_SCALE": "1"})
    engine = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        with alertmanager.running(tmp_path, [f"http://127.0.0.1:{port}/alerts/alertmanager"]) as am:
            groups = [f"e2e-{unique}-{n}" for n in range(3)]
            # Two alerts in the first group (two partitions), one in each of the others.
            am.post([alertmanager.alert({"alertname": "KafkaConsumerLagHigh", "consumergroup": groups[0],
                                         "partition": str(p), "severity": "warning"}, f"Lag of {groups[0]}")
                     for p in (0, 1)]
                    + [alertmanager.alert({"alertname": "KafkaConsumerLagHigh", "consumergroup": g,
                                           "severity": "warning"}, f"Lag of {g}") for g in groups[1:]])
            wait_for(lambda: set(incidents_by_group(engine)) >= set(groups), what="an incident per group")
            by_group = incidents_by_group(engine)
            refs = {g: by_group[g] for g in groups}
            assert all(len(r) == 1 for r in refs.values()), refs
            ref = {g: next(iter(r)) for g, r in refs.items()}
            assert len(set(ref.values())) == 3
            wait_for(lambda: all(threads(local_slack, r) == (1, 1) for r in ref.values()), what="every thread")

            def alerts_of() -> dict[str, int]:
                with engine.connect() as conn:
                    return {row.ref: row.n for row in conn.execute(
                        select(incidents.c.ref, func.count(incident_alerts.c.id).label("n"))
                        .join(incident_alerts).group_by(incidents.c.ref))}

            # Alertmanager may send the first group before its second alert joined it and
            # the whole group a group_interval later: both alerts end on the one incident.
            wait_for(lambda: alerts_of().get(ref[groups[0]]) == 2, what="both alerts of the first group")

            # Resolved: Alertmanager sends the group again with the alert resolved.
            am.post([alertmanager.alert({"alertname": "KafkaConsumerLagHigh", "consumergroup": groups[1],
                                         "severity": "warning"}, f"Lag of {groups[1]}", resolved=True)])
            wait_for(lambda: any("Every alert of this incident is resolved" in t
                                 for t in replies(local_slack, ref[groups[1]])), what="the resolved note")
            said = replies(local_slack, ref[groups[1]])
            assert sum(":white_check_mark: Resolved: KafkaConsumerLagHigh" in t for t in said) == 1, said
            # The other groups' repeated deliveries (every group_interval) add nothing.
            time.sleep(1.5)
            assert {g: by for g, by in incidents_by_group(engine).items() if g in groups} == refs
            assert all(threads(local_slack, r) == (1, 1) for r in ref.values())
            assert am.metric("alertmanager_notification_requests_failed_total") == 0
        with engine.connect() as conn:
            status = conn.execute(select(incidents.c.status).where(incidents.c.ref == ref[groups[1]])).scalar()
        assert status == "open"  # a person confirms (alerts.auto_resolve is off)
    finally:
        db.dispose(engine)
        bot.send_signal(signal.SIGTERM)
        bot.wait(20)
