"""Who PagerDuty or Opsgenie says is on call, as vendor users (emails).

PagerDuty: REST `GET /oncalls` (reference/REST/openapiv3.json in PagerDuty/api-schema,
operation listOnCalls): `Authorization: Token token=<key>`, the versioned Accept
header, `schedule_ids[]` or `escalation_policy_ids[]`, `since`/`until`, `include[]=users`
(so each entry's user carries its `email`), offset pagination (`limit`, `offset`,
`more`). Every entry has `user`, `escalation_level`, `start` and `end` (null: permanent).

Opsgenie: Who-is-on-call API `GET /v2/schedules/{identifier}/on-calls` with
`scheduleIdentifierType`, `flat=true` (the answer's `data.onCallRecipients` lists user
names, which are emails) and `date`; `Authorization: GenieKey <key>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from bot.config.oncall import OpsgenieSchedule, PagerDutySchedule

PD_ACCEPT = "application/vnd.pagerduty+json;version=2"
PD_WINDOW = 14 * 86400  # how far ahead "next" is looked for
PD_PAGE = 100
PD_MAX_PAGES = 5


class Unreachable(Exception):
    """The vendor could not be asked, or refused; the message says why for a person."""


@dataclass(frozen=True)
class VendorAnswer:
    current: list[str]  # emails
    until: float | None  # the current shift's end, if known
    next: list[str]
    next_at: float | None


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _get(url: str, *, headers: dict[str, str], params: list[tuple[str, str]], timeout: float, vendor: str) -> dict:  # type: ignore[type-arg]
    try:
        response = requests.get(url, headers=headers, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise Unreachable(f"{vendor} could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise Unreachable(f"{vendor} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise Unreachable(f"{vendor} answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise Unreachable(f"{vendor} answered with an unexpected shape")
    return body


def pagerduty(cfg: PagerDutySchedule, now: float, timeout: float) -> VendorAnswer:
    headers = {"Authorization": f"Token token={cfg.token.get_secret_value()}", "Accept": PD_ACCEPT}
    target = ("schedule_ids[]", cfg.schedule_id) if cfg.schedule_id else ("escalation_policy_ids[]",
                                                                          str(cfg.escalation_policy_id))
    entries: list[dict] = []  # type: ignore[type-arg]
    offset = 0
    for _ in range(PD_MAX_PAGES):
        params = [target, ("since", iso(now)), ("until", iso(now + PD_WINDOW)), ("include[]", "users"),
                  ("time_zone", "UTC"), ("limit", str(PD_PAGE)), ("offset", str(offset))]
        body = _get(f"{cfg.api_url.rstrip('/')}/oncalls", headers=headers, params=params, timeout=timeout,
                    vendor="PagerDuty")
        page = body.get("oncalls")
        if not isinstance(page, list):
            raise Unreachable("PagerDuty's answer has no `oncalls` list")
        entries += page
        if not body.get("more"):
            break
        offset += PD_PAGE
    if cfg.escalation_policy_id:
        entries = [e for e in entries if e.get("escalation_level") == cfg.escalation_level]
    shifts = []
    for e in entries:
        email = (e.get("user") or {}).get("email") or (e.get("user") or {}).get("summary")
        if email:
            shifts.append((str(email).lower(), _parse(e.get("start")), _parse(e.get("end"))))
    current = [s for s in shifts if (s[1] is None or s[1] <= now) and (s[2] is None or s[2] > now)]
    ends = [s[2] for s in current if s[2] is not None]
    later = [s for s in shifts if s[1] is not None and s[1] > now]
    next_at = min((s[1] for s in later), default=None)  # type: ignore[type-var]
    return VendorAnswer(current=_unique(s[0] for s in current), until=min(ends) if ends else next_at,
                        next=_unique(s[0] for s in later if s[1] == next_at), next_at=next_at)


def opsgenie(cfg: OpsgenieSchedule, now: float, timeout: float) -> VendorAnswer:
    headers = {"Authorization": f"GenieKey {cfg.api_key.get_secret_value()}"}
    params = [("scheduleIdentifierType", cfg.identifier_type), ("flat", "true"),
              ("date", datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00"))]
    url = f"{cfg.api_url.rstrip('/')}/v2/schedules/{quote(cfg.schedule, safe='')}/on-calls"
    body = _get(url, headers=headers, params=params, timeout=timeout, vendor="Opsgenie")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("onCallRecipients", []), list):
        raise Unreachable("Opsgenie's answer has no `data.onCallRecipients` list")
    recipients = data.get("onCallRecipients") or []
    return VendorAnswer(current=_unique(str(r).lower() for r in recipients), until=None, next=[], next_at=None)


def _unique(items) -> list[str]:  # type: ignore[no-untyped-def]
    return list(dict.fromkeys(items))
