"""On-call from PagerDuty and Opsgenie, against stand-ins that check every request
against the vendors' published descriptions: vendor users mapped to Slack users, the
next handoff, the short cache, and the fallback when the vendor cannot be asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import db
from bot.config import load
from bot.oncall import lookup
from tests.conftest import free_port
from tests.oncall_standins import VendorStandIn, pd_entry


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = db.create(f"sqlite:///{tmp_path / 'oncall.db'}")
    db.migrate(e)
    yield e
    db.dispose(e)


@pytest.fixture
def pagerduty() -> Iterator[VendorStandIn]:
    stand_in = VendorStandIn("pagerduty").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def opsgenie() -> Iterator[VendorStandIn]:
    stand_in = VendorStandIn("opsgenie").start()
    yield stand_in
    stand_in.stop()


USER_MAP = {"alice@example.com": "U0ALICE", "Bob@Example.com": "U0BOB", "carol@example.com": "U0CAROL"}


def settings(**schedules: dict) -> object:  # type: ignore[type-arg]
    return load(oncall={"schedules": schedules, "user_map": USER_MAP, "cache_seconds": 30,
                        "request_timeout_s": 2}).oncall


def test_pagerduty_schedule_now_and_next(pagerduty: VendorStandIn, engine: Engine) -> None:
    now = time.time()
    handoff = now + 3600
    pagerduty.oncalls = [pd_entry("alice@example.com", iso(now - 3600), iso(handoff)),
                         pd_entry("bob@example.com", iso(handoff), iso(handoff + 86400)),
                         pd_entry("carol@example.com", iso(handoff + 86400), iso(handoff + 2 * 86400)),
                         pd_entry("zed@example.com", iso(now - 60), iso(now + 60), schedule="POTHER")]
    cfg = settings(primary={"kind": "pagerduty", "api_url": pagerduty.url, "token": "secret-key",
                            "schedule_id": "PSCHED1", "timezone": "Europe/Berlin"})
    found = lookup.who(cfg, engine, "primary", now)  # type: ignore[arg-type]
    assert pagerduty.errors == []
    assert found.users == ["U0ALICE"] and found.next_users == ["U0BOB"] and not found.fallback
    assert found.until is not None and abs(found.until - handoff) < 1
    request = pagerduty.requests[0]
    assert request["headers"]["Authorization"] == "Token token=secret-key"
    assert request["query"]["schedule_ids[]"] == ["PSCHED1"] and request["query"]["include[]"] == ["users"]


def test_pagerduty_escalation_policy_takes_the_configured_level(pagerduty: VendorStandIn, engine: Engine) -> None:
    now = time.time()
    pagerduty.oncalls = [pd_entry("alice@example.com", iso(now - 60), iso(now + 600), level=1),
                         pd_entry("carol@example.com", None, None, level=2)]  # permanent, at level 2
    for level, expected in ((1, ["U0ALICE"]), (2, ["U0CAROL"])):
        cfg = settings(policy={"kind": "pagerduty", "api_url": pagerduty.url, "token": "secret-key",
                               "escalation_policy_id": "PPOL1", "escalation_level": level})
        assert lookup.who(cfg, engine, "policy", now).users == expected  # type: ignore[arg-type]
    assert pagerduty.errors == []
    assert all(r["query"]["escalation_policy_ids[]"] == ["PPOL1"] for r in pagerduty.requests)


def test_pagerduty_unmapped_user_falls_back_and_says_who(pagerduty: VendorStandIn, engine: Engine) -> None:
    now = time.time()
    pagerduty.oncalls = [pd_entry("mallory@example.com", iso(now - 60), iso(now + 600))]
    cfg = settings(primary={"kind": "pagerduty", "api_url": pagerduty.url, "token": "secret-key",
                            "schedule_id": "PSCHED1", "fallback_users": ["U0DAVE"]})
    found = lookup.who(cfg, engine, "primary", now)  # type: ignore[arg-type]
    assert found.users == ["U0DAVE"] and found.fallback
    assert found.note == ("no Slack user for mallory@example.com (add to oncall.user_map); PagerDuty names nobody "
                          "the bot can mention, so its fallback users stand in")


def test_answers_are_cached_for_a_short_while(pagerduty: VendorStandIn, engine: Engine) -> None:
    now = time.time()
    pagerduty.oncalls = [pd_entry("alice@example.com", iso(now - 60), iso(now + 600))]
    cfg = settings(primary={"kind": "pagerduty", "api_url": pagerduty.url, "token": "secret-key",
                            "schedule_id": "PSCHED1"})
    cache = lookup.Cache()
    for _ in range(3):
        assert lookup.who(cfg, engine, "primary", now, cache).users == ["U0ALICE"]  # type: ignore[arg-type]
    assert len(pagerduty.requests) == 1


def test_opsgenie_schedule_by_name(opsgenie: VendorStandIn, engine: Engine) -> None:
    opsgenie.recipients = {"Platform Primary": ["bob@example.com"]}
    cfg = settings(platform={"kind": "opsgenie", "api_url": opsgenie.url, "api_key": "secret-key",
                             "schedule": "Platform Primary", "identifier_type": "name"})
    found = lookup.who(cfg, engine, "platform", time.time())  # type: ignore[arg-type]
    assert opsgenie.errors == []
    assert found.users == ["U0BOB"] and not found.fallback
    request = opsgenie.requests[0]
    assert request["path"] == "/v2/schedules/Platform%20Primary/on-calls"
    assert request["headers"]["Authorization"] == "GenieKey secret-key"
    assert request["query"]["scheduleIdentifierType"] == ["name"] and request["query"]["flat"] == ["true"]


@pytest.mark.parametrize("vendor, fault, reason", [
    ("pagerduty", "down", "PagerDuty could not be reached (ConnectionError)"),
    ("pagerduty", "500", "PagerDuty answered HTTP 500"),
    ("pagerduty", "bad key", "PagerDuty answered HTTP 401"),
    ("opsgenie", "down", "Opsgenie could not be reached (ConnectionError)"),
    ("opsgenie", "500", "Opsgenie answered HTTP 500"),
])
def test_unreachable_vendor_uses_the_fallback_users_and_says_so(vendor: str, fault: str, reason: str,
                                                                 engine: Engine) -> None:
    stand_in = VendorStandIn(vendor).start()
    try:
        url = f"http://127.0.0.1:{free_port()}" if fault == "down" else stand_in.url
        stand_in.status = 500 if fault == "500" else 200
        key = "wrong" if fault == "bad key" else "secret-key"
        source = ({"kind": "pagerduty", "token": key, "schedule_id": "PSCHED1"} if vendor == "pagerduty"
                  else {"kind": "opsgenie", "api_key": key, "schedule": "abc"})
        cfg = settings(s={**source, "api_url": url, "fallback_users": ["U0DAVE", "U0BOB"]})
        found = lookup.who(cfg, engine, "s", time.time(), lookup.Cache())  # type: ignore[arg-type]
        assert found.users == ["U0DAVE", "U0BOB"] and found.fallback
        assert found.note == f"{reason}, so its fallback users stand in"
        assert stand_in.errors == []
    finally:
        stand_in.stop()
