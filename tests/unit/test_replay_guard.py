"""The replay loop guard's pure rules: reading the replay count from either broker's
headers, when a message is parked, the headers a replay sends, the /dlq sentence and
the configuration's checks."""

from __future__ import annotations

from typing import Any

import pytest

from bot.actions.replay_guard import guard_totals, kafka_headers, parks, replay_count
from bot.config import ConfigError, load
from bot.probes.dlq_models import came_back

COUNTS: list[tuple[str, Any, int]] = [
    ("no headers", None, 0),
    ("Kafka: absent", [("trace", b"t")], 0),
    ("Kafka: bytes", [("x-replay-count", b"2")], 2),
    ("Kafka: the last repeat wins", [("x-replay-count", b"1"), ("x-replay-count", b"3")], 3),
    ("Kafka: a null value", [("x-replay-count", None)], 0),
    ("Kafka: garbage", [("x-replay-count", b"lots")], 0),
    ("Kafka: not ASCII", [("x-replay-count", b"\xff\xfe")], 0),
    ("Kafka: negative", [("x-replay-count", b"-4")], 0),
    ("RabbitMQ: an int", {"x-replay-count": 3}, 3),
    ("RabbitMQ: a string", {"x-replay-count": "2"}, 2),
    ("RabbitMQ: bytes (a longstr)", {"x-replay-count": b"5"}, 5),
    ("RabbitMQ: a bool is no count", {"x-replay-count": True}, 0),
    ("the name ignores case", {"X-Replay-Count": 4}, 4),
]


@pytest.mark.parametrize(("headers", "count"), [c[1:] for c in COUNTS], ids=[c[0] for c in COUNTS])
def test_replay_count(headers: Any, count: int) -> None:
    assert replay_count(headers, "x-replay-count") == count


@pytest.mark.parametrize(("count", "limit", "parked"), [(0, 3, False), (2, 3, False), (3, 3, True), (9, 3, True),
                                                        (1, 1, True), (0, 1, False)])
def test_parked_at_the_limit(count: int, limit: int, parked: bool) -> None:
    assert parks(count, limit) is parked


def test_a_replay_sets_the_count_once() -> None:
    headers = [("trace", b"t"), ("X-Replay-Count", b"1"), ("x-replay-count", b"2")]
    assert kafka_headers(headers, "x-replay-count", 3) == [("trace", b"t"), ("x-replay-count", b"3")]
    assert kafka_headers(None, "x-replay-count", 1) == [("x-replay-count", b"1")]


def test_totals_only_say_something_when_there_is_something() -> None:
    assert guard_totals(0, 0) == {}
    assert guard_totals(2, 5) == {"came_back_after_replay": 5, "parked": 2}


CAME_BACK = [
    ([], None),
    ([0, 0], None),
    ([0, 1, 0], "1 of the 3 sampled messages came back after a replay (the most replayed: 1 time); "
                "a replay parks those at dlq_hygiene.max_replays."),
    ([2, 3, 0, 1], "3 of the 4 sampled messages came back after a replay (the most replayed: 3 times); "
                   "a replay parks those at dlq_hygiene.max_replays."),
]


@pytest.mark.parametrize(("replays", "sentence"), CAME_BACK)
def test_dlq_says_what_came_back(replays: list[int], sentence: str | None) -> None:
    assert came_back(replays) == sentence


def test_parking_names() -> None:
    guard = load(database_url="sqlite:///unused.db",
                 dlq_hygiene={"parking": {"orders.dlq": "orders.quarantine"}}).dlq_hygiene
    assert (guard.max_replays, guard.replay_count_header) == (3, "x-replay-count")
    assert guard.parking_for("orders.dlq") == "orders.quarantine"
    assert guard.parking_for("billing.dlq") == "billing.dlq.parked"


@pytest.mark.parametrize(("section", "message"), [
    ({"max_replays": 0}, "dlq_hygiene.max_replays"),
    ({"replay_count_header": "x replay"}, "must be a header name"),
    ({"parking_suffix": "/parked"}, "it ends a topic or queue name"),
])
def test_bad_guard_settings_are_named(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(database_url="sqlite:///unused.db", dlq_hygiene=section)
    assert message in str(refused.value)
