"""Alert webhook bodies as the real senders write them."""

from __future__ import annotations

from typing import Any


def alertmanager(group_key: str, alerts: list[dict[str, Any]], status: str = "firing",
                 common: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": 0, "status": status, "receiver": "incidentbot",
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")},
        "commonLabels": common if common is not None else alerts[0]["labels"],
        "commonAnnotations": alerts[0].get("annotations", {}),
        "externalURL": "http://alertmanager.local:9093", "alerts": alerts,
    }


def am_alert(fingerprint: str, labels: dict[str, str], status: str = "firing", summary: str = "") -> dict[str, Any]:
    return {"status": status, "labels": labels, "annotations": {"summary": summary} if summary else {},
            "startsAt": "2026-11-29T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else
            "2026-11-29T11:00:00Z", "generatorURL": "http://prometheus.local/graph", "fingerprint": fingerprint}
