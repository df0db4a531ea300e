"""Webhook bodies into one AlertBatch, for every source: the documented examples
(tests/payloads/) and built ones parse to what a person will read; every invalid
field is refused with an error that names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.models import AlertBatch, PayloadError, fingerprint, parse

PAYLOADS = Path(__file__).parent.parent / "payloads"


def documented(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def am(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"version": "4", "groupKey": "{}:{alertname=\"X\"}", "status": "firing",
                            "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}
    return {**body, **over}


def gf(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"groupKey": "{}:{}", "status": "firing",
                            "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}
    return {**body, **over}


def alert(**over: Any) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "X"}, **over}


def test_documented_alertmanager_example() -> None:
    batch = parse("alertmanager", documented("alertmanager_webhook_v4.json"))
    assert (batch.source, batch.group_key, batch.status, batch.title, batch.runbook, batch.truncated) == (
        "alertmanager", '{}:{alertname="KafkaConsumerLagHigh"}', "firing", "Consumer group billing lags on orders",
        None, 0)
    [only] = batch.alerts
    assert (only.fingerprint, only.name, only.severity, only.status) == (
        "4f6a1c2d9e8b7a60", "KafkaConsumerLagHigh", "critical", "firing")
    assert only.labels["consumergroup"] == "billing" and only.labels["topic"] == "orders"
    assert only.generator_url == ("http://prometheus.example.org:9090/graph?g0.expr=sum+by+%28consumergroup%2C+topic"
                                  "%29+%28kafka_consumergroup_lag%29+%3E+100000&g0.tab=1")  # Go's \u0026 read as &
    assert batch.firing == batch.alerts


def test_documented_grafana_example() -> None:
    batch = parse("grafana", documented("grafana_webhook.json"))
    assert (batch.source, batch.group_key, batch.title, batch.common_labels) == (
        "grafana", "{}:{}", "This alert was triggered for zone us-1", {"team": "blue"})
    assert [(a.fingerprint, a.name, a.severity) for a in batch.alerts] == [
        ("c6eadffa33fcdf37", "High memory usage", None), ("bc97ff14869b13e3", "High CPU usage", None)]
    assert batch.alerts[1].annotations["summary"] == "This alert was triggered for zone eu-1"


TITLES: list[tuple[str, str, dict[str, Any], str]] = [
    ("alertmanager: common summary", "alertmanager",
     am(commonAnnotations={"summary": "Common"}, alerts=[alert(annotations={"summary": "First"})]), "Common"),
    ("alertmanager: first alert's summary", "alertmanager",
     am(alerts=[alert(annotations={"summary": "First"}), alert(annotations={"summary": "Second"})]), "First"),
    ("alertmanager: common alertname", "alertmanager",
     am(commonLabels={"alertname": "CommonName"}, alerts=[alert(labels={"alertname": "Own"})]), "CommonName"),
    ("alertmanager: first alert's alertname", "alertmanager", am(alerts=[alert(labels={"alertname": "Own"})]), "Own"),
    ("alertmanager: nothing to name it by", "alertmanager", am(alerts=[alert(labels={})]), "Alert"),
    ("alertmanager: cut at 300 characters", "alertmanager",
     am(commonAnnotations={"summary": "s" * 400}), "s" * 300),
    ("grafana: summary beats its title", "grafana",
     gf(title="[FIRING:1] (blue)", alerts=[alert(annotations={"summary": "Summary"})]), "Summary"),
    ("grafana: its title without a summary", "grafana", gf(title="[FIRING:1] (blue)"), "[FIRING:1] (blue)"),
    ("grafana: alertname without title or summary", "grafana", gf(), "X"),
    ("generic: its title", "generic", {"title": "Orders DLQ overflowing"}, "Orders DLQ overflowing"),
]


@pytest.mark.parametrize(("source", "body", "title"), [c[1:] for c in TITLES], ids=[c[0] for c in TITLES])
def test_title_a_person_reads(source: str, body: dict[str, Any], title: str) -> None:
    assert parse(source, body).title == title


RUNBOOKS = [
    ("none asked", am(), None),
    ("runbook common label", am(commonLabels={"runbook": "dlq-filling"}), "dlq-filling"),
    ("runbook_id common annotation", am(commonAnnotations={"runbook_id": "rebalancing"}), "rebalancing"),
    ("label beats annotation", am(commonLabels={"runbook": "a"}, commonAnnotations={"runbook_id": "b"}), "a"),
    ("an alert's own label is not the group's request", am(alerts=[alert(labels={"runbook": "x"})]), None),
]


@pytest.mark.parametrize(("body", "runbook"), [c[1:] for c in RUNBOOKS], ids=[c[0] for c in RUNBOOKS])
def test_explicit_runbook(body: dict[str, Any], runbook: str | None) -> None:
    assert parse("alertmanager", body).runbook == runbook


def test_fingerprint_is_alertmanagers_or_derived_from_the_labels() -> None:
    labels = {"alertname": "X", "topic": "orders"}
    given = parse("alertmanager", am(alerts=[alert(labels=labels, fingerprint="abc")])).alerts[0]
    derived = parse("alertmanager", am(alerts=[alert(labels=labels)])).alerts[0]
    reordered = parse("alertmanager", am(alerts=[alert(labels={"topic": "orders", "alertname": "X"})])).alerts[0]
    assert given.fingerprint == "abc"
    assert derived.fingerprint == fingerprint(labels) == reordered.fingerprint
    assert len(derived.fingerprint) == 16 and derived.fingerprint != fingerprint({"alertname": "X"})


def test_resolved_alerts_are_not_firing() -> None:
    batch = parse("alertmanager", am(alerts=[alert(), alert(status="resolved", labels={"alertname": "Y"})]))
    assert [a.name for a in batch.firing] == ["X"]


GENERIC: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("title only: warning, firing", {"title": "Disk full"},
     {"status": "firing", "severity": "warning", "labels": {"severity": "warning"}, "name": "Disk full",
      "annotations": {"summary": "Disk full"}, "runbook": None}),
    ("every field", {"title": "Orders DLQ overflowing", "status": "resolved", "severity": "critical",
                     "labels": {"queue": "orders.dlq", "cluster": "prod", "alertname": "DLQ"},
                     "description": "12,000 messages", "runbook": "dlq-filling", "dedup_key": "orders-dlq"},
     {"status": "resolved", "severity": "critical",
      "labels": {"queue": "orders.dlq", "cluster": "prod", "alertname": "DLQ", "severity": "critical"},
      "name": "DLQ", "annotations": {"summary": "Orders DLQ overflowing", "description": "12,000 messages"},
      "runbook": "dlq-filling", "fingerprint": "orders-dlq", "group_key": "orders-dlq"}),
    ("unknown fields are ignored", {"title": "T", "colour": "red"},
     {"status": "firing", "severity": "warning", "name": "T"}),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in GENERIC], ids=[c[0] for c in GENERIC])
def test_generic(body: dict[str, Any], expected: dict[str, Any]) -> None:
    batch: AlertBatch = parse("generic", body)
    [only] = batch.alerts
    seen = {"status": only.status, "severity": only.severity, "labels": only.labels, "name": only.name,
            "annotations": only.annotations, "runbook": batch.runbook, "fingerprint": only.fingerprint,
            "group_key": batch.group_key}
    assert {k: seen[k] for k in expected} == expected
    assert batch.status == only.status and batch.title == body["title"]


def test_generic_without_dedup_key_dedups_on_labels_and_title() -> None:
    one = parse("generic", {"title": "T", "labels": {"a": "1"}})
    same = parse("generic", {"title": "T", "labels": {"a": "1"}, "description": "other words"})
    other = parse("generic", {"title": "U", "labels": {"a": "1"}})
    assert one.group_key == same.group_key == one.alerts[0].fingerprint
    assert one.group_key != other.group_key


INVALID: list[tuple[str, str, Any, str]] = [
    # Alertmanager: each field in turn
    ("am: not an object", "alertmanager", [], "the body must be a JSON object"),
    ("am: version 3", "alertmanager", am(version="3"),
     "version: Value error, version '3' is not supported; Alertmanager sends version 4"),
    ("am: no groupKey", "alertmanager", {k: v for k, v in am().items() if k != "groupKey"}, "groupKey: Field required"),
    ("am: empty groupKey", "alertmanager", am(groupKey=""), "groupKey: String should have at least 1 character"),
    ("am: status", "alertmanager", am(status="burning"), "status: Input should be 'firing' or 'resolved'"),
    ("am: no status", "alertmanager", {k: v for k, v in am().items() if k != "status"}, "status: Field required"),
    ("am: truncatedAlerts", "alertmanager", am(truncatedAlerts="some"),
     "truncatedAlerts: Input should be a valid integer, unable to parse string as an integer"),
    ("am: groupLabels", "alertmanager", am(groupLabels=["a"]), "groupLabels: Input should be a valid dictionary"),
    ("am: commonLabels value", "alertmanager", am(commonLabels={"a": 1}),
     "commonLabels.a: Input should be a valid string"),
    ("am: commonAnnotations", "alertmanager", am(commonAnnotations="x"),
     "commonAnnotations: Input should be a valid dictionary"),
    ("am: externalURL", "alertmanager", am(externalURL=5), "externalURL: Input should be a valid string"),
    ("am: alerts missing", "alertmanager", {k: v for k, v in am().items() if k != "alerts"}, "alerts: Field required"),
    ("am: alerts empty", "alertmanager", am(alerts=[]),
     "alerts: List should have at least 1 item after validation, not 0"),
    ("am: alerts not a list", "alertmanager", am(alerts="many"), "alerts: Input should be a valid list"),
    ("am: alert status", "alertmanager", am(alerts=[alert(status="x")]),
     "alerts.0.status: Input should be 'firing' or 'resolved'"),
    ("am: second alert's label", "alertmanager", am(alerts=[alert(), alert(labels={"a": 1})]),
     "alerts.1.labels.a: Input should be a valid string"),
    ("am: alert annotations", "alertmanager", am(alerts=[alert(annotations=[])]),
     "alerts.0.annotations: Input should be a valid dictionary"),
    ("am: alert startsAt", "alertmanager", am(alerts=[alert(startsAt=1)]),
     "alerts.0.startsAt: Input should be a valid string"),
    ("am: alert fingerprint", "alertmanager", am(alerts=[alert(fingerprint=7)]),
     "alerts.0.fingerprint: Input should be a valid string"),
    ("am: two problems", "alertmanager", am(groupKey="", status="x"),
     "groupKey: String should have at least 1 character (and 1 more problem)"),
    # Grafana
    ("grafana: not an object", "grafana", "text", "the body must be a JSON object"),
    ("grafana: no groupKey", "grafana", {k: v for k, v in gf().items() if k != "groupKey"}, "groupKey: Field required"),
    ("grafana: status", "grafana", gf(status="alerting"), "status: Input should be 'firing' or 'resolved'"),
    ("grafana: orgId", "grafana", gf(orgId="one"),
     "orgId: Input should be a valid integer, unable to parse string as an integer"),
    ("grafana: title", "grafana", gf(title=["x"]), "title: Input should be a valid string"),
    ("grafana: alerts empty", "grafana", gf(alerts=[]),
     "alerts: List should have at least 1 item after validation, not 0"),
    ("grafana: valueString", "grafana", gf(alerts=[alert(valueString=3)]),
     "alerts.0.valueString: Input should be a valid string"),
    ("grafana: dashboardURL", "grafana", gf(alerts=[alert(dashboardURL={})]),
     "alerts.0.dashboardURL: Input should be a valid string"),
    # generic
    ("generic: not an object", "generic", None, "the body must be a JSON object"),
    ("generic: no title", "generic", {}, "title: Field required"),
    ("generic: empty title", "generic", {"title": ""}, "title: String should have at least 1 character"),
    ("generic: long title", "generic", {"title": "t" * 301}, "title: String should have at most 300 characters"),
    ("generic: status", "generic", {"title": "t", "status": "open"}, "status: Input should be 'firing' or 'resolved'"),
    ("generic: severity", "generic", {"title": "t", "severity": "high"},
     "severity: Input should be 'critical', 'warning' or 'info'"),
    ("generic: labels", "generic", {"title": "t", "labels": {"a": [1]}}, "labels.a: Input should be a valid string"),
    ("generic: description", "generic", {"title": "t", "description": "d" * 3001},
     "description: String should have at most 3000 characters"),
    ("generic: runbook", "generic", {"title": "t", "runbook": 1}, "runbook: Input should be a valid string"),
    ("generic: empty dedup_key", "generic", {"title": "t", "dedup_key": ""},
     "dedup_key: String should have at least 1 character"),
    ("unknown source", "nagios", {"title": "t"}, "unknown alert source 'nagios'"),
]


@pytest.mark.parametrize(("source", "body", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_field_is_named(source: str, body: Any, message: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse(source, body)
    assert str(refused.value) == message
