"""Alert webhook payloads (Prometheus Alertmanager v4, Grafana, a generic shape),
validated and normalised to one AlertBatch."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

LabelSet = dict[str, str]


class _Lenient(BaseModel):
    # Senders add fields over time; unknown ones are ignored, known ones must have the right type.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AMAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: LabelSet = Field(default_factory=dict)
    annotations: LabelSet = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerPayload(_Lenient):
    """Alertmanager's webhook body, version 4."""

    version: str = "4"
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: LabelSet = Field(default_factory=dict)
    commonLabels: LabelSet = Field(default_factory=dict)
    commonAnnotations: LabelSet = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AMAlert] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _v4(cls, v: str) -> str:
        if v != "4":
            raise ValueError(f"version {v!r} is not supported; Alertmanager sends version 4")
        return v


class GrafanaAlert(AMAlert):
    dashboardURL: str | None = None
    panelURL: str | None = None
    silenceURL: str | None = None
    valueString: str | None = None


class GrafanaPayload(_Lenient):
    """Grafana unified alerting's webhook body (Alertmanager's shape plus a few fields)."""

    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    title: str | None = None
    message: str | None = None
    orgId: int | None = None
    groupLabels: LabelSet = Field(default_factory=dict)
    commonLabels: LabelSet = Field(default_factory=dict)
    commonAnnotations: LabelSet = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = 0
    alerts: list[GrafanaAlert] = Field(min_length=1)


class GenericPayload(_Lenient):
    """The documented shape for any other source (see README: Alert webhooks)."""

    title: str = Field(min_length=1, max_length=300)
    status: Literal["firing", "resolved"] = "firing"
    severity: Literal["critical", "warning", "info"] = "warning"
    labels: LabelSet = Field(default_factory=dict)
    description: str | None = Field(None, max_length=3000)
    runbook: str | None = None
    dedup_key: str | None = Field(None, min_length=1, max_length=300)


class Alert(BaseModel):
    fingerprint: str
    status: Literal["firing", "resolved"]
    name: str
    severity: str | None
    labels: LabelSet
    annotations: LabelSet
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None


class AlertBatch(BaseModel):
    source: str
    group_key: str
    status: Literal["firing", "resolved"]
    title: str
    alerts: list[Alert]
    common_labels: LabelSet
    runbook: str | None = None  # asked for explicitly by the sender
    truncated: int = 0

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]


class PayloadError(Exception):
    """Why a body was refused, naming the field."""


def fingerprint(labels: LabelSet) -> str:
    """A stable id for an alert without one, from its label set (as Alertmanager does)."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _validate(model: type[BaseModel], body: Any) -> Any:
    if not isinstance(body, dict):
        raise PayloadError("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        others = exc.error_count() - 1
        more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
        raise PayloadError(f"{where}: {err['msg']}{more}") from None


def _title(common: LabelSet, annotations: LabelSet, alerts: list[AMAlert]) -> str:
    first = alerts[0]
    summary = annotations.get("summary") or first.annotations.get("summary")
    name = common.get("alertname") or first.labels.get("alertname") or "Alert"
    return (summary or name)[:300]


def _from_am(source: str, payload: AlertmanagerPayload | GrafanaPayload, title: str) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint=a.fingerprint or fingerprint(a.labels), status=a.status,
            name=a.labels.get("alertname", "alert"), severity=a.labels.get("severity"),
            labels=a.labels, annotations=a.annotations, starts_at=a.startsAt, ends_at=a.endsAt,
            generator_url=a.generatorURL,
        )
        for a in payload.alerts
    ]
    runbook = payload.commonLabels.get("runbook") or payload.commonAnnotations.get("runbook_id")
    return AlertBatch(source=source, group_key=payload.groupKey, status=payload.status, title=title, alerts=alerts,
                      common_labels=payload.commonLabels, runbook=runbook, truncated=payload.truncatedAlerts)


def parse(source: str, body: Any) -> AlertBatch:
    if source == "alertmanager":
        am = _validate(AlertmanagerPayload, body)
        return _from_am(source, am, _title(am.commonLabels, am.commonAnnotations, am.alerts))
    if source == "grafana":
        gf = _validate(GrafanaPayload, body)
        title = _title(gf.commonLabels, gf.commonAnnotations, gf.alerts)
        if gf.title and not (gf.commonAnnotations.get("summary") or gf.alerts[0].annotations.get("summary")):
            title = gf.title[:300]
        return _from_am(source, gf, title)
    if source == "generic":
        g = _validate(GenericPayload, body)
        labels = {**g.labels, "severity": g.severity}
        fp = g.dedup_key or fingerprint({**g.labels, "title": g.title})
        alert = Alert(fingerprint=fp, status=g.status, name=g.labels.get("alertname", g.title[:100]),
                      severity=g.severity, labels=labels,
                      annotations={"summary": g.title, **({"description": g.description} if g.description else {})})
        return AlertBatch(source=source, group_key=fp, status=g.status, title=g.title, alerts=[alert],
                          common_labels=labels, runbook=g.runbook)
    raise PayloadError(f"unknown alert source {source!r}")
