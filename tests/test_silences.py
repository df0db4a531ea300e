"""Silences through the real webhook and slash commands: a silenced alert is recorded
on its silence and posts nothing, others open as usual, and what still fires when
the silence ends (it runs out or is expired) opens then; what resolved does not."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot import db
from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.silences import labels_for, record_suppressed, store
from bot.silences.matchers import parse_matcher
from bot.silences.tables import silenced_alerts
from bot.subject import Subject
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import send


def lag_alert(unique: str, group: str, status: str = "firing") -> dict[str, object]:
    labels = {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "consumergroup": group,
              "topic": f"orders-{unique}"}
    return alertmanager(f'{{}}:{{alertname="KafkaConsumerLagHigh",g="{group}"}}',
                        [am_alert(f"fp-{group}", labels, status=status, summary=f"{group} is lagging")], status=status)


def posted(bot: LocalBot) -> int:
    return len(bot.slack.state.messages("C0INCIDENTS"))


def until(condition: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


def released(bot: LocalBot, silence_id: int) -> None:
    """Wait until the timer owner handed back what the silence held, and for its posts."""
    until(lambda: (s := store.get(bot.ctx.engine, silence_id)) is not None and s.released_at is not None)
    bot.ctx.work.wait_idle(60)


def open_refs(bot: LocalBot) -> set[str]:
    return {i.ref for i in service.list_open(bot.ctx.engine)}


def test_a_silence_swallows_a_matching_alert_and_records_it(alerting_bot: LocalBot, unique: str) -> None:
    made = alerting_bot.slash(f'/silence alertname=KafkaConsumerLagHigh consumergroup=~"billing-{unique}.*" 30m '
                              "deploying billing").json()
    assert made["response_type"] == "in_channel"
    assert "silenced `alertname=KafkaConsumerLagHigh consumergroup=~\"billing-" in made["text"]
    assert "for 30m" in made["text"] and "*S-1*" in made["text"]
    before = posted(alerting_bot)

    for _ in range(2):  # Alertmanager delivers again at every group interval
        answer = send(alerting_bot, lag_alert(unique, f"billing-{unique}"))
        assert answer.status_code == 200
        assert answer.json() == {"status": "accepted", "incident": None, "created": False, "duplicate": False,
                                 "silences": ["S-1"]}
    assert posted(alerting_bot) == before
    assert open_refs(alerting_bot) == set()

    with alerting_bot.ctx.engine.connect() as conn:
        row = conn.execute(select(silenced_alerts)).one()
    assert (row.silence_id, row.source, row.name, row.status, row.deliveries) == (
        1, "alertmanager", "KafkaConsumerLagHigh", "firing", 2)
    assert row.labels["consumergroup"] == f"billing-{unique}" and row.first_seen <= row.last_seen
    listed = alerting_bot.slash("/silence list").json()["text"]
    assert "*S-1*" in listed and "1 alert held back (2 deliveries)" in listed and "deploying billing" in listed

    # Another group is not covered: it opens as usual.
    other = send(alerting_bot, lag_alert(unique, f"payments-{unique}")).json()
    assert other["created"] is True and "silences" not in other
    assert posted(alerting_bot) > before


def test_expiring_a_silence_opens_what_still_fires(alerting_bot: LocalBot, unique: str) -> None:
    alerting_bot.slash(f"/silence group:billing-{unique} 1h replaying the DLQ")
    assert send(alerting_bot, lag_alert(unique, f"billing-{unique}")).json()["incident"] is None
    assert open_refs(alerting_bot) == set()

    answer = alerting_bot.slash("/silence expire S-1").json()["text"]
    assert "expired S-1" in answer and "those still firing open as incidents now" in answer
    released(alerting_bot, 1)
    (ref,) = until(lambda: open_refs(alerting_bot))  # type: ignore[misc]
    parent = next(m for m in alerting_bot.slack.state.messages("C0INCIDENTS") if ref in m.text)
    assert f"billing-{unique}" in parent.text or "billing" in str(parent.blocks)
    timeline = alerting_bot.slash(f"/incident timeline {ref}").json()["text"]
    assert "Held back by silence S-1 (replaying the DLQ)" in timeline and "so it opens now" in timeline
    assert "No silence is in force" in alerting_bot.slash("/silence list").json()["text"]
    refused = alerting_bot.slash("/silence expire S-1").json()["text"]
    assert "S-1 cannot be expired: it has already ended" in refused


def test_a_silence_running_out_opens_what_still_fires_and_not_what_resolved(alerting_bot: LocalBot,
                                                                            unique: str) -> None:
    alerting_bot.slash(f"/silence alertname=KafkaConsumerLagHigh topic=orders-{unique} 5s short deploy")
    for body in (lag_alert(unique, f"firing-{unique}"), lag_alert(unique, f"healed-{unique}"),
                 lag_alert(unique, f"healed-{unique}", status="resolved")):  # resolved during the silence
        assert send(alerting_bot, body).json()["silences"] == ["S-1"]
    assert open_refs(alerting_bot) == set()
    released(alerting_bot, 1)
    refs = until(lambda: open_refs(alerting_bot))
    assert len(refs) == 1  # type: ignore[arg-type]
    incident = service.get(alerting_bot.ctx.engine, next(iter(refs)))  # type: ignore[call-overload]
    assert incident is not None and incident.subject.group == f"firing-{unique}"


def test_bad_silences_are_told_why_privately(alerting_bot: LocalBot) -> None:
    for text, said in [
        ("/silence alertname=X 30m", "needs a reason"),
        ("/silence alertname=X soon deploy", "`soon` is neither a matcher nor a duration"),
        ("/silence soon 30m deploy", "`soon` is not a matcher"),
        ("/silence alertname=X 30x deploy", "`30x` is not a duration"),
        ('/silence group=~"orders-(" 30m deploy', "is not a valid regular expression"),
        ('/silence queue=~".*" 30m deploy', "would match every alert"),
        ("/silence alertname=X 30d deploy", "longer than the longest allowed"),
        ("/silence expire S-99", "S-99 cannot be expired: there is no such silence"),
        ("/silence expire tomorrow", "is not a silence id"),
    ]:
        answer = alerting_bot.slash(text).json()
        assert answer.get("response_type", "ephemeral") == "ephemeral", text
        assert said in answer["text"], (text, answer["text"])
    assert store.active(alerting_bot.ctx.engine, time.time()) == []


def test_the_watch_asks_and_records_through_the_store(alerting_bot: LocalBot, unique: str) -> None:
    alerting_bot.slash(f"/silence group:orders-{unique} 10m draining orders")
    labels = labels_for(Subject(cluster="local", group=f"orders-{unique}"), "WatchLagHigh", "warning")
    now = time.time()
    found = store.active_silence_for(alerting_bot.ctx.engine, labels, now)
    assert found is not None and found.ref == "S-1"
    assert store.active_silence_for(alerting_bot.ctx.engine, {**labels, "group": "other"}, now) is None
    for _ in range(3):  # every round of a lasting breach counts on one row
        record_suppressed(alerting_bot.ctx.engine, found.id, f"lag local/orders-{unique}", labels, now)
    assert "1 alert held back (3 deliveries)" in alerting_bot.slash("/silence list").json()["text"]
    alerting_bot.slash("/silence expire S-1")
    released(alerting_bot, 1)
    assert open_refs(alerting_bot) == set()  # the watch re-opens its own breaches at its next round


def test_the_store_on_postgresql(postgres: str) -> None:
    """Held alerts counted on one row under concurrent deliveries (PostgreSQL's
    savepoint path), and the end of a silence claimed by one process only."""
    engine = db.create(postgres)
    try:
        db.migrate(engine)
        now = time.time()
        made = store.create(engine, matchers=[parse_matcher("group:orders")], seconds=60, reason="r",
                            created_by="U1", now=now)
        labels = {"alertname": "WatchLagHigh", "group": "orders"}

        def deliver(_: int) -> None:
            record_suppressed(engine, made.id, "lag local/orders", labels, time.time())

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(deliver, range(16)))
        assert store.counts(engine, [made.id]) == {made.id: (1, 16)}
        assert store.active_silence_for(engine, labels, now + 1) is not None
        assert store.active_silence_for(engine, labels, now + 61) is None

        assert store.ended_unreleased(engine, now + 1) == []
        assert store.expire(engine, made.id, by="U2", now=now + 1) is not None
        assert [s.id for s in store.ended_unreleased(engine, now + 1)] == [made.id]
        assert store.claim_release(engine, made.id, owner="elsewhere:1:a", now=now + 1)
        assert not store.claim_release(engine, made.id, owner="elsewhere:2:b", now=now + 2)
        assert store.claim_release(engine, made.id, owner="elsewhere:2:b", now=now + 2 + store.RELEASE_TTL)
        store.mark_released(engine, made.id, owner="elsewhere:2:b", now=now + 3)
        assert store.ended_unreleased(engine, now + 4) == []
    finally:
        db.dispose(engine)
