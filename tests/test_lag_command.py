"""`/lag` as a person uses it, through the real HTTP server and the Slack stand-in."""

from __future__ import annotations

import pytest

from bot.app.localbot import LocalBot
from tests import kafka_fixtures as kf


def _posted(bot: LocalBot) -> dict:  # type: ignore[type-arg]
    posts = bot.slack.state.response_url_posts()
    assert posts, "the bot posted nothing after the acknowledgement"
    return posts[-1]


@pytest.mark.both_transports
def test_lag_for_one_group_shows_exact_numbers(bot: LocalBot, unique: str) -> None:
    topic, group = f"orders-{unique}", f"billing-{unique}"
    kf.create_topic(topic, 3)
    kf.produce(topic, {0: 30, 1: 12, 2: 5})
    kf.commit(group, {(topic, 0): 10, (topic, 1): 12})
    ack = bot.slash(f"/lag {group}")
    assert ack.status_code == 200 and "Reading the lag" in ack.json()["text"]
    post = _posted(bot)
    assert post["response_type"] == "in_channel"
    text = post["text"]
    # Nobody reads an Empty group: its 20 waiting messages make it stuck, not OK.
    assert (f"Consumer lag: {group} (local): WARNING: {group}: nobody is reading: "
            f"the group is Empty with 20 messages waiting") in text
    lines = [line.split() for line in text.splitlines() if line.startswith(topic + " ")]
    assert [row[:5] for row in lines] == [[topic, "0", "10", "30", "20"], [topic, "1", "12", "12", "0"]]
    assert lines[1][6] == "-"  # caught up: nothing behind
    assert "(oldest unread record)" in text  # the first look already knows how long partition 0 waits
    assert "kafka-consumer-groups.sh --bootstrap-server" in text and f"--group {group}" in text
    assert f"{topic}: no active consumer; up to 3 can work in parallel." in text
    blocks = post["blocks"]
    assert blocks[0]["type"] == "header"
    assert ":large_yellow_circle: *WARNING*" in blocks[1]["text"]["text"]


def test_an_empty_group_with_messages_waiting_is_stuck_not_ok(bot: LocalBot, unique: str) -> None:
    topic, group = f"stuck-{unique}", f"stuck-{unique}"
    kf.create_topic(topic, 2)
    kf.produce(topic, {0: 3_000, 1: 405})
    kf.commit(group, {(topic, 0): 0, (topic, 1): 0})
    bot.slash(f"/lag {group}")
    post = _posted(bot)
    assert post["text"].startswith(f"Consumer lag: {group} (local): WARNING: {group}: nobody is reading: "
                                   "the group is Empty with 3,405 messages waiting")
    assert ":large_yellow_circle: *WARNING*" in post["blocks"][1]["text"]["text"]
    assert "State Empty · 0 members · lag 3,405" in post["text"]


def test_lag_through_the_umbrella_and_all_groups(bot: LocalBot, unique: str) -> None:
    topic, group = f"pay-{unique}", f"ledger-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 15_000})
    kf.commit(group, {(topic, 0): 1})
    bot.slash("/ops lag")
    text = _posted(bot)["text"]
    # Other tests share the cluster and may leave worse groups: the headline is at least a warning.
    assert text.startswith(("Consumer lag: all groups (local): WARNING: ", "Consumer lag: all groups (local): CRITICAL: "))
    # Its reason is in the headline unless worse groups of other tests filled it ("… and N more").
    assert f"{group} lags 14,999 messages (warning above 10,000)" in text or "more reason" in text
    lines = text.splitlines()
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("GROUP")) + 1:]
    ours = next(line for line in rows if line.startswith(group + " "))
    assert ours.split()[3] == "14,999" and ours.split()[-1] == "WARNING"
    levels = [line.split()[-1] for line in rows if line.split() and line.split()[-1] in ("OK", "WARNING", "CRITICAL")]
    assert levels == sorted(levels, key=["CRITICAL", "WARNING", "OK"].index)  # the worst groups first


def test_unknown_group_suggests_close_names(bot: LocalBot, unique: str) -> None:
    topic = f"inv-{unique}"
    kf.create_topic(topic, 1)
    kf.commit(f"inventory-{unique}", {(topic, 0): 0})
    bot.slash(f"/lag inventory-{unique[:-1]}")
    post = _posted(bot)
    assert post["response_type"] == "ephemeral"
    assert f"No consumer group named `inventory-{unique[:-1]}`. Did you mean `inventory-{unique}`" in post["text"]


def test_wrong_arguments_get_usage_in_the_ack(bot: LocalBot) -> None:
    reply = bot.slash("/lag a b c").json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "Too many arguments: `c`. Usage: `/lag [group] [topic] [--cluster NAME] [--chart]`"
    assert "No Kafka cluster named `prod`" in bot.slash("/lag --cluster prod").json()["text"]
    assert bot.slack.state.response_url_posts() == []


def test_chart_is_uploaded_into_the_channel(bot: LocalBot, unique: str) -> None:
    topic, group = f"chart-{unique}", f"charted-{unique}"
    kf.create_topic(topic, 2)
    kf.commit(group, {(topic, 0): 0, (topic, 1): 0})
    for n in (10, 40):
        kf.produce(topic, {0: n, 1: n // 2})
        bot.slash(f"/lag {group}")
    bot.slash(f"/lag {group} --chart")
    files = bot.slack.state.files()
    assert len(files) == 1
    f = files[0]
    assert f.filename == f"lag-{group}.png" and f.data.startswith(b"\x89PNG")
    shared = [m for m in bot.slack.state.messages("C0INCIDENTS") if m.files]
    assert shared and f"Lag of `{group}` over the last 6 h (3 stored samples per partition)." in shared[-1].text
    assert "--chart` draws one group's lag" in bot.slash("/lag --chart").json()["text"]


def test_topology_maps_groups_to_topics_with_owners(tmp_path, local_slack, brokers, unique: str) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings, start_bot

    topic = f"topo-{unique}"
    kf.create_topic(topic, 2)
    kf.produce(topic, {0: 300_009, 1: 3})  # the worst topic in the cluster, so it comes first
    kf.commit(f"billing-{unique}", {(topic, 0): 4, (topic, 1): 3})
    kf.commit(f"audit-{unique}", {(topic, 0): 300_009})
    settings = make_settings(tmp_path, teams={"payments": {"lead_users": ["U0BOB"]}, "platform": {}},
                             ownership={"billing-": "payments"}, default_team="platform")
    running = start_bot(settings, local_slack)
    try:
        running.slash("/topology")
    finally:
        running.close()
    text = local_slack.state.response_url_posts()[-1]["text"]
    rows = [line.split() for line in text.splitlines() if line.startswith(topic + " ")]
    assert rows == [[topic, f"billing-{unique}", "Empty", "0", "300,005", "payments"],
                    [topic, f"audit-{unique}", "Empty", "0", "0", "platform"]]
