"""Who a named schedule puts on call now and next, as Slack users, whatever its
source: a local rotation (with the overrides in the database), PagerDuty or
Opsgenie (vendor users mapped to Slack users through `oncall.user_map`, answers
reused for `oncall.cache_seconds`). When a vendor cannot be asked, or names nobody
the bot can mention, the schedule's `fallback_users` stand in and `note` says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bot.config.oncall import LocalRotation, OncallSettings, OpsgenieSchedule
from bot.oncall import rotation, store, vendors
from bot.recent import Recent

log = logging.getLogger(__name__)

VENDOR_NAMES = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie", "local": "local rotation"}


@dataclass(frozen=True)
class OnCall:
    schedule: str
    source: str  # local, pagerduty, opsgenie
    timezone: str
    users: list[str]  # Slack user ids on call now
    until: float | None = None  # the next handoff
    next_users: list[str] = field(default_factory=list)
    fallback: bool = False  # users are the configured fallback
    note: str | None = None  # why the fallback, or who could not be mapped


class Cache(Recent[str, vendors.VendorAnswer]):
    """Vendors' answers by schedule name (bot.app.context.Caches.oncall)."""


def who(settings: OncallSettings, engine: Engine, name: str, now: float, cache: Cache | None = None) -> OnCall:
    cfg = settings.schedules[name]
    if isinstance(cfg, LocalRotation):
        overrides = store.overrides_for(engine, name, now)
        users = rotation.on_call(cfg, overrides, now)
        change = rotation.next_change(cfg, overrides, now)
        if not users:
            return OnCall(name, "local", cfg.timezone, list(cfg.fallback_users), change[0] if change else None,
                          change[1] if change else [], fallback=True,
                          note="the rotation has nobody on call now" +
                               ("; paging its fallback users" if cfg.fallback_users else ""))
        return OnCall(name, "local", cfg.timezone, users, change[0] if change else None, change[1] if change else [])
    vendor = VENDOR_NAMES[cfg.kind]
    answer = cache.get(name, settings.cache_seconds) if cache is not None else None
    if answer is None:
        try:
            if isinstance(cfg, OpsgenieSchedule):
                answer = vendors.opsgenie(cfg, now, settings.request_timeout_s)
            else:
                answer = vendors.pagerduty(cfg, now, settings.request_timeout_s)
        except vendors.Unreachable as exc:
            log.warning("on-call schedule %s: %s; using its fallback users", name, exc)
            why = f"{exc}, so its fallback users stand in" if cfg.fallback_users else \
                f"{exc}, and it has no fallback_users"
            return OnCall(name, cfg.kind, cfg.timezone, list(cfg.fallback_users), fallback=True, note=why)
        if cache is not None:
            cache.put(name, answer)
    users, unknown = _map(settings, answer.current)
    upcoming, _ = _map(settings, answer.next)
    notes = [f"no Slack user for {', '.join(unknown)} (add to oncall.user_map)"] if unknown else []
    if not users:
        notes.append(f"{vendor} names nobody the bot can mention" +
                     (", so its fallback users stand in" if cfg.fallback_users else ""))
        return OnCall(name, cfg.kind, cfg.timezone, list(cfg.fallback_users), answer.until, upcoming, fallback=True,
                      note="; ".join(notes))
    return OnCall(name, cfg.kind, cfg.timezone, users, answer.until, upcoming, note="; ".join(notes) or None)


def _map(settings: OncallSettings, emails: list[str]) -> tuple[list[str], list[str]]:
    users, unknown = [], []
    for email in emails:
        found = settings.user_map.get(email.lower())
        if found:
            users.append(found)
        else:
            unknown.append(email)
    return list(dict.fromkeys(users)), unknown
