"""`/duplicates` on planted data: the same event ids carried as the message key, a
header and a JSON field, some repeated inside the window and some outside it; every
key shape finds exactly the planted repeats, with partitions, offsets and spacing."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timezone

import pytest
from confluent_kafka import Producer

from bot.app.localbot import LocalBot
from bot.digests import duplicates
from tests.conftest import KAFKA
from tests.kafka_fixtures import create_topic

MIN = 60_000


def plant(topic: str, now_ms: int) -> dict[tuple[int, str], list[int]]:
    """Returns (partition, event id) -> offsets. Two hours back: copies of ev-5 and ev-old
    (outside a one-hour window). In the window: ev-0 … ev-9 once, ev-3 once more five minutes
    later on another partition, ev-7 twice more, a minute apart each; one message with no id at all."""
    start = now_ms - 30 * MIN
    plan: list[tuple[int, str | None, int]] = [(0, "ev-old", now_ms - 120 * MIN), (0, "ev-5", now_ms - 119 * MIN),
                                               (1, "ev-old", now_ms - 118 * MIN)]
    plan += [(i % 3, f"ev-{i}", start + i * 1000) for i in range(10)]
    plan += [(1, "ev-3", start + 3000 + 5 * MIN), (2, "ev-7", start + 7000 + MIN), (2, "ev-7", start + 7000 + 2 * MIN),
             (1, None, start + 10 * MIN)]
    producer = Producer({"bootstrap.servers": KAFKA, "enable.idempotence": True})
    offsets: dict[tuple[int, str], list[int]] = defaultdict(list)
    next_offset = defaultdict(int)
    for partition, event, ts in plan:
        if event is None:
            producer.produce(topic, value=b"not json", partition=partition, timestamp=ts)
        else:
            producer.produce(topic, key=event.encode(), partition=partition, timestamp=ts,
                             value=json.dumps({"meta": {"id": event}, "amount": 3}).encode(),
                             headers=[("event-id", event.encode()), ("trace", b"t")])
            offsets[(partition, event)].append(next_offset[partition])
        next_offset[partition] += 1
    assert producer.flush(30) == 0
    return offsets


@pytest.mark.parametrize("key", ["message-key", "header:event-id", "json:meta.id"])
def test_every_key_shape_finds_the_planted_repeats_and_nothing_else(bot: LocalBot, unique: str, key: str) -> None:
    topic = f"dup-{unique}"
    create_topic(topic, 3)
    now = datetime.now(timezone.utc)
    at = plant(topic, int(now.timestamp() * 1000))
    found = duplicates.scan(bot.ctx.settings.kafka["local"], bot.ctx.clients.kafka_admin("local"), topic,
                            duplicates.parse_key(key), 3600, 1000, now)
    report = duplicates.report(found, 3600, now)
    seven = f"p1@{at[(1, 'ev-7')][0]}, p2@{at[(2, 'ev-7')][0]}, p2@{at[(2, 'ev-7')][1]}"
    three = f"p0@{at[(0, 'ev-3')][0]}, p1@{at[(1, 'ev-3')][0]}"
    assert report.tables[0].rows == [["ev-7", "3", seven, "2 min"], ["ev-3", "2", three, "5 min"]]
    assert found.read == 14 and found.without_key == 1 and not found.capped
    assert report.verdict.reasons == ["2 event ids arrived more than once (3 extra copies) among 14 messages"]
    label = "message-key" if key == "message-key" else key
    assert f"1 message had no {label}: not checked." in report.notes


def test_the_command_reports_as_a_person_sees_it(bot: LocalBot, unique: str) -> None:
    topic = f"dup-{unique}"
    create_topic(topic, 3)
    plant(topic, int(time.time() * 1000))
    bot.slash(f"/duplicates {topic} --key header:event-id --window 1h")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"Duplicates in {topic}: WARNING: 2 event ids arrived more than once (3 extra copies) "
                           "among 14 messages")
    assert "ev-7" in text and "ev-3" in text and "ev-old" not in text and "ev-5 " not in text
    assert "event id: header:event-id" in text

    wide = bot.slack.state.response_url_posts
    bot.slash(f"/duplicates {topic} --window 3h")  # now the old copies are inside: ev-5 and ev-old repeat too
    text = wide()[-1]["text"]
    assert text.startswith(f"Duplicates in {topic}: WARNING: 4 event ids arrived more than once (5 extra copies) "
                           "among 17 messages")


def test_unique_ids_report_nothing_and_a_cap_is_said(bot: LocalBot, unique: str) -> None:
    topic = f"dup-{unique}"
    create_topic(topic, 2)
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(12):
        producer.produce(topic, key=f"id-{i}".encode(), value=b"{}", partition=i % 2)
    assert producer.flush(30) == 0
    bot.slash(f"/duplicates {topic}")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"Duplicates in {topic}: OK: no repeated event id among 12 messages")

    now = datetime.now(timezone.utc)
    capped = duplicates.scan(bot.ctx.settings.kafka["local"], bot.ctx.clients.kafka_admin("local"), topic,
                             duplicates.parse_key(None), 3600, 5, now)
    assert capped.capped and capped.read == 5
    report = duplicates.report(capped, 3600, now)
    assert report.notes[0].startswith("Capped at 5 messages (digests.duplicates_max_messages): the rest of the window "
                                      "was not read")


def test_bad_input_is_answered_plainly(bot: LocalBot, unique: str) -> None:
    reply = bot.slash("/duplicates orders --key body:id").json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("`--key body:id` is not a key I know: use header:<name> | json:<path> | "
                                    "message-key")
    assert "is not a duration" in bot.slash("/duplicates orders --window soon").json()["text"]
    assert bot.slash("/duplicates").json()["text"].startswith("Name one topic. Usage: `/duplicates <topic>")
    bot.slash(f"/duplicates nothing-{unique}")
    assert bot.slack.state.response_url_posts()[-1]["text"] == f"There is no topic `nothing-{unique}`."
