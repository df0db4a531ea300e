"""Local rotations: who is on call across handoffs and the clock changes of
Europe/Berlin (2026: 29 March 02:00 CET -> 03:00 CEST, 25 October 03:00 CEST ->
02:00 CET), layers, restrictions, overrides and who comes next."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.config import ConfigError, load
from bot.config.oncall import LocalRotation
from bot.escalation.reminders import due_at
from bot.incidents.roles import parse_update
from bot.oncall.rotation import Override, local_time, next_change, on_call


def ts(utc: str) -> float:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp()


# Weekly, Monday 09:00 Berlin, from Monday 2024-01-01: week 115 (U0B) starts 2026-03-16,
# week 116 (U0C) 2026-03-23, week 117 (U0A) 2026-03-30 just after the spring change;
# week 146 (U0C) 2026-10-19, week 147 (U0A) 2026-10-26 just after the autumn change.
WEEKLY = LocalRotation(timezone="Europe/Berlin", layers=[{"members": ["U0A", "U0B", "U0C"], "shift": "weekly",
                                                          "handoff_day": "monday", "handoff_time": "09:00"}])


@pytest.mark.parametrize("at, expected", [
    ("2026-03-23T07:59:59Z", "U0B"),  # 08:59:59 CET: still last week's
    ("2026-03-23T08:00:00Z", "U0C"),  # 09:00 CET = 08:00 UTC
    ("2026-03-29T00:59:59Z", "U0C"),  # just before the clocks jump
    ("2026-03-29T01:00:00Z", "U0C"),  # 03:00 CEST, same shift
    ("2026-03-30T06:59:59Z", "U0C"),  # 08:59:59 CEST
    ("2026-03-30T07:00:00Z", "U0A"),  # 09:00 CEST = 07:00 UTC: the handoff stays 09:00 local
    ("2026-10-19T06:59:59Z", "U0B"),
    ("2026-10-19T07:00:00Z", "U0C"),  # 09:00 CEST
    ("2026-10-25T00:30:00Z", "U0C"),  # 02:30 CEST, the first of the two 02:30s
    ("2026-10-25T01:30:00Z", "U0C"),  # 02:30 CET, the second
    ("2026-10-26T07:59:59Z", "U0C"),  # 08:59:59 CET
    ("2026-10-26T08:00:00Z", "U0A"),  # 09:00 CET = 08:00 UTC
    ("2023-12-31T12:00:00Z", None),  # before the rotation starts
])
def test_weekly_handoff_stays_at_local_nine_across_dst(at: str, expected: str | None) -> None:
    assert on_call(WEEKLY, [], ts(at)) == ([expected] if expected else [])


@pytest.mark.parametrize("at, handoff, who", [
    ("2026-03-25T12:00:00Z", "2026-03-30T07:00:00Z", "U0A"),  # the handoff after the spring change
    ("2026-10-20T12:00:00Z", "2026-10-26T08:00:00Z", "U0A"),  # after the autumn change
    ("2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z", "U0A"),  # at the handoff instant itself
])
def test_next_on_call_and_handoff_time(at: str, handoff: str, who: str) -> None:
    assert next_change(WEEKLY, [], ts(at)) == (ts(handoff), [who])


DAILY = LocalRotation(timezone="Europe/Berlin", layers=[{"members": ["U0A", "U0B"], "shift": "daily",
                                                         "handoff_time": "09:00", "start": "2026-03-01"}])


@pytest.mark.parametrize("at, handoff, hours", [
    ("2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z", 23),  # the shift over the spring change lasts 23 h
    ("2026-10-24T12:00:00Z", "2026-10-25T08:00:00Z", 25),  # over the autumn change, 25 h
    ("2026-03-10T12:00:00Z", "2026-03-11T08:00:00Z", 24),
])
def test_daily_shift_length_across_dst(at: str, handoff: str, hours: int) -> None:
    change = next_change(DAILY, [], ts(at))
    assert change is not None and change[0] == ts(handoff)
    after = next_change(DAILY, [], change[0])
    assert after is not None and after[0] - change[0] in (23 * 3600, 24 * 3600, 25 * 3600)
    previous = next_change(DAILY, [], change[0] - 30 * 3600)
    assert previous is not None and change[0] - previous[0] == hours * 3600


@pytest.mark.parametrize("shift, at, expected", [
    ("3d", "2026-03-01T08:00:00Z", "U0A"),  # day 0, 09:00 CET
    ("3d", "2026-03-04T07:59:00Z", "U0A"),  # day 3, 08:59 CET
    ("3d", "2026-03-04T08:00:00Z", "U0B"),
    ("2", "2026-03-03T08:00:00Z", "U0B"),
    ("daily", "2026-03-02T08:00:00Z", "U0B"),
])
def test_n_day_shifts(shift: str, at: str, expected: str) -> None:
    rot = LocalRotation(timezone="Europe/Berlin", layers=[{"members": ["U0A", "U0B"], "shift": shift,
                                                           "start": "2026-03-01"}])
    assert on_call(rot, [], ts(at)) == [expected]


LAYERED = LocalRotation(timezone="Europe/Berlin", layers=[
    {"members": ["U0A", "U0B", "U0C"]},
    # Weekends belong to U0W: the later layer wins where it has someone.
    {"members": ["U0W"], "shift": "daily", "restrictions": [{"days": ["sat", "sun"]}]},
])


@pytest.mark.parametrize("at, expected", [
    ("2026-03-27T12:00:00Z", "U0C"),  # Friday
    ("2026-03-27T22:59:59Z", "U0C"),  # Friday 23:59:59 CET
    ("2026-03-27T23:00:00Z", "U0W"),  # Saturday 00:00 CET
    ("2026-03-29T21:59:59Z", "U0W"),  # Sunday 23:59:59 CEST
    ("2026-03-29T22:00:00Z", "U0C"),  # Monday 00:00 CEST, before the 09:00 handoff
    ("2026-03-30T07:00:00Z", "U0A"),
])
def test_layers_later_wins_where_it_has_someone(at: str, expected: str) -> None:
    assert on_call(LAYERED, [], ts(at)) == [expected]


def test_next_change_crosses_into_a_restricted_layer() -> None:
    assert next_change(LAYERED, [], ts("2026-03-27T12:00:00Z")) == (ts("2026-03-27T23:00:00Z"), ["U0W"])
    assert next_change(LAYERED, [], ts("2026-03-28T12:00:00Z")) == (ts("2026-03-29T22:00:00Z"), ["U0C"])


def test_overrides_win_and_the_last_added_wins_among_them() -> None:
    start, end = ts("2026-03-24T10:00:00Z"), ts("2026-03-24T18:00:00Z")
    cover = Override("U0Z", start, end, added_at=1.0, id=1)
    assert on_call(WEEKLY, [cover], start - 1) == ["U0C"]
    assert on_call(WEEKLY, [cover], start) == ["U0Z"]
    assert on_call(WEEKLY, [cover], end) == ["U0C"]
    assert next_change(WEEKLY, [cover], start - 3600) == (start, ["U0Z"])
    assert next_change(WEEKLY, [cover], start + 60) == (end, ["U0C"])
    later = Override("U0Y", start + 3600, end + 3600, added_at=2.0, id=2)
    assert on_call(WEEKLY, [cover, later], start + 7200) == ["U0Y"]
    assert on_call(WEEKLY, [cover, later], end + 60) == ["U0Y"]
    # an override over a handoff: the handoff shows once it ends
    over = Override("U0Z", ts("2026-03-30T06:00:00Z"), ts("2026-03-30T10:00:00Z"), added_at=3.0, id=3)
    assert next_change(WEEKLY, [over], ts("2026-03-30T06:30:00Z")) == (ts("2026-03-30T10:00:00Z"), ["U0A"])


def test_one_member_never_changes() -> None:
    solo = LocalRotation(layers=[{"members": ["U0A"]}])
    assert next_change(solo, [], ts("2026-03-25T12:00:00Z")) is None


def test_handoff_shown_in_the_zone() -> None:
    assert local_time(ts("2026-03-30T07:00:00Z"), "Europe/Berlin") == "Mon 30 Mar 09:00 CEST"
    assert local_time(ts("2026-10-26T08:00:00Z"), "Europe/Berlin") == "Mon 26 Oct 09:00 CET"


@pytest.mark.parametrize("schedules, extra, message", [
    ({"a": {"kind": "local", "timezone": "Mars/Olympus", "layers": [{"members": ["U0A"]}]}}, {},
     "'Mars/Olympus' is not an IANA time zone"),
    ({"a": {"layers": [{"members": ["U0A"], "handoff_day": "funday"}]}}, {}, "'funday' is not a weekday"),
    ({"a": {"layers": [{"members": ["U0A"], "handoff_day": "mondays"}]}}, {}, "'mondays' is not a weekday"),
    ({"a": {"layers": [{"members": ["U0A"], "handoff_time": "25:00"}]}}, {}, "'25:00' is not a time of day"),
    ({"a": {"layers": [{"members": ["U0A"], "shift": "fortnightly"}]}}, {}, "is not a shift length"),
    ({"a": {"layers": [{"members": ["bob"]}]}}, {}, "'bob' is not a Slack user id"),
    ({"a": {"kind": "pagerduty", "token": "x"}}, {}, "exactly one of schedule_id or escalation_policy_id"),
    ({}, {"teams": {"pay": {"lead_oncall": "nope"}}}, "teams.pay.lead_oncall: 'nope' is not under oncall.schedules"),
    ({}, {"escalation": {"platform_oncall": "nope"}}, "escalation.platform_oncall: 'nope' is not under"),
])
def test_bad_schedules_are_refused_with_a_clear_line(schedules: dict, extra: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        load(oncall={"schedules": schedules}, **extra)
    assert message in str(err.value)


@pytest.mark.parametrize("base, interval, now, due", [
    (100.0, 60.0, 159.0, None),  # not yet
    (100.0, 60.0, 160.0, 160.0),  # the first
    (100.0, 60.0, 250.0, 220.0),  # the latest passed, never one per missed interval
    (100.0, 0.0, 500.0, None),
])
def test_reminder_due_times(base: float, interval: float, now: float, due: float | None) -> None:
    assert due_at(base, interval, now) == due


@pytest.mark.parametrize("text, parts", [
    ("lag 40k and falling", {"conditions": "lag 40k and falling"}),
    ("conditions: lag 40k actions: scaled to 6 needs: a DBA",
     {"conditions": "lag 40k", "actions": "scaled to 6", "needs": "a DBA"}),
    ("Actions: restarted consumers; Needs: nothing", {"actions": "restarted consumers", "needs": "nothing"}),
    ("broker 2 down. needs: platform", {"conditions": "broker 2 down.", "needs": "platform"}),
])
def test_status_update_sections(text: str, parts: dict[str, str]) -> None:
    assert parse_update(text) == parts
