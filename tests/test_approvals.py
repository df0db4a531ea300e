"""Destructive actions through Slack with the two-person rule, against the real Kafka
and RabbitMQ: the card, who may approve, deny with a reason, purge by name, expiry,
double clicks, and a restart between approval and execution."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from sqlalchemy import select, update

from bot import db
from bot.app.localbot import LocalBot, Transport
from bot.approvals import flow, store
from bot.db import owners
from bot.incidents import service
from bot.localslack.server import LocalSlack
from bot.slack import render_approval
from bot.slack.ids import CONFIRM_BLOCK, CONFIRM_INPUT, REASON_BLOCK, REASON_INPUT, Action, Callback
from tests import kafka_fixtures as kf
from tests.conftest import RABBIT_PORT, make_settings, start_bot


def approvals_settings(tmp_path: Path, **more: object):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, approvals={"approvers": ["U0BOB", "U0CAROL"], **more})


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    running = start_bot(approvals_settings(tmp_path), local_slack, transport)
    yield running
    running.close()


def incident_thread(bot: LocalBot, title: str) -> tuple[str, str]:
    ref = bot.slash(f"/incident open {title}").json()["text"].split()[1]
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
    return ref, parent.ts


def card(bot: LocalBot, request_id: str):  # type: ignore[no-untyped-def]
    return next(m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith(f"Approval {request_id}:"))


def card_sections(message) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(b.get("text", {}).get("text", "") for b in message.blocks if b["type"] == "section")


def as_seen(mrkdwn: str) -> str:
    """The text as Slack shows it: its three escapes turned back into characters."""
    return mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def last_request(bot: LocalBot) -> str:
    return bot.slack.state.response_url_posts()[-1]["text"].split()[0].rstrip(":")


def committed(group: str) -> dict[int, int]:
    result = kf.admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


@pytest.mark.both_transports
def test_reset_offsets_needs_a_second_approver_and_is_verified(bot: LocalBot, unique: str) -> None:
    topic, group = f"orders-{unique}", f"billing-{unique}"
    kf.create_topic(topic, 2)
    kf.produce(topic, {0: 30, 1: 10})
    kf.commit(group, {(topic, 0): 25, (topic, 1): 10})
    ref, thread = incident_thread(bot, "Billing replays needed")
    bot.slash(f"/reset-offsets {group} --topic {topic} --to-earliest --reason 'test run'", thread=thread, user="U0ALICE")
    request_id = last_request(bot)
    c = card(bot, request_id)
    assert c.thread_ts == thread
    shown = " ".join(b.get("text", {}).get("text", "") for b in c.blocks if b["type"] == "section")
    assert "35 re-processed" in shown and f"{topic}[0]" in shown and "25" in shown
    assert committed(group) == {0: 25, 1: 10}  # the dry run changed nothing
    bot.click(c, Action.APPROVE, user="U0ALICE")
    assert bot.slack.state.ephemerals(user="U0ALICE")[-1].text == "You cannot approve your own request: a second person has to."
    bot.click(c, Action.APPROVE, user="U0DAVE")
    assert bot.slack.state.ephemerals(user="U0DAVE")[-1].text.startswith("Only <@U0BOB>, <@U0CAROL> may approve")
    assert committed(group) == {0: 25, 1: 10}
    bot.click(c, Action.APPROVE, user="U0BOB")
    assert committed(group) == {0: 0, 1: 0}
    final = bot.slack.state.message("C0INCIDENTS", c.ts)
    assert final.text.endswith("(executed)")
    text = " ".join(b.get("text", {}).get("text", "") for b in final.blocks if b["type"] == "section")
    assert "Executed* by <@U0BOB>" in text and "Verified* :white_check_mark:" in text
    assert not any(b["type"] == "actions" for b in final.blocks)  # decided: no buttons any more
    csv = [f for f in bot.slack.state.files() if f.filename.endswith(f"-{group}.csv")]
    assert len(csv) == 1 and csv[0].data.decode().splitlines() == [f"{topic},0,25", f"{topic},1,10"]
    incident = service.get(bot.ctx.engine, ref)
    kinds = [e.kind for e in service.timeline(bot.ctx.engine, incident)]  # type: ignore[arg-type]
    assert [k for k in kinds if k.startswith("approval.")] == ["approval.requested", "approval.approved",
                                                               "approval.executed"]
    trail = [t[2] for t in store.trail(bot.ctx.engine, request_id)]
    assert trail == ["requested", "approved", "executing", "executed"]


@pytest.mark.both_transports
def test_deny_needs_a_reason_and_wins(bot: LocalBot, unique: str) -> None:
    topic, group = f"deny-{unique}", f"deny-g-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 5})
    kf.commit(group, {(topic, 0): 5})
    _, thread = incident_thread(bot, "Deny test")
    bot.slash(f"/reset-offsets {group} --topic {topic} --to-earliest --reason 'test run'", thread=thread)
    request_id = last_request(bot)
    bot.click(card(bot, request_id), Action.DENY, user="U0CAROL")
    modal = bot.slack.state.views()[-1]
    assert modal.payload["callback_id"] == Callback.DENY_REASON
    submission = {"type": "view_submission", "team": {"id": "T0LOCAL"}, "user": {"id": "U0CAROL"},
                  "view": {**modal.payload, "id": modal.id, "state": {"values": {REASON_BLOCK: {REASON_INPUT: {
                      "type": "plain_text_input", "value": ""}}}}}}
    assert bot.interact(submission).json()["response_action"] == "errors"
    submission["view"]["state"]["values"][REASON_BLOCK][REASON_INPUT]["value"] = "consumer still deploying"
    assert bot.interact(submission).status_code == 200
    bot.ctx.work.wait_idle(30)
    c = card(bot, request_id)
    assert c.text.endswith("(denied)")
    assert flow.approve(bot.ctx, request_id, "U0BOB") == \
        "This request is already denied by <@U0CAROL>; it cannot be acted on any more."
    assert committed(group) == {0: 5}


def test_reset_is_refused_while_consumers_run(bot: LocalBot, unique: str) -> None:
    topic, group = f"live-{unique}", f"live-g-{unique}"
    kf.create_topic(topic, 2)
    _, thread = incident_thread(bot, "Active group")
    with kf.members(group, topic, 1, client_prefix=f"svc-{unique}"):
        bot.slash(f"/reset-offsets {group} --topic {topic} --to-earliest --reason 'test run'", thread=thread)
        c = card(bot, last_request(bot))
    shown = " ".join(b.get("text", {}).get("text", "") for b in c.blocks if b["type"] == "section")
    assert "stop the consumers" in shown.lower()
    assert f"svc-{unique}-0" in shown
    assert not any(b["type"] == "actions" for b in c.blocks)


def test_purge_needs_the_name_typed_out(bot: LocalBot, unique: str) -> None:
    dlq = f"pay-{unique}.dlq"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = conn.channel()
    channel.queue_declare(dlq)
    for i in range(7):
        channel.basic_publish("", dlq, f"dead {i}".encode())
    conn.close()
    _, thread = incident_thread(bot, "Purge test")
    time.sleep(1)
    bot.slash(f"/purge-dlq {dlq} --reason 'test run'", thread=thread)
    request_id = last_request(bot)
    c = card(bot, request_id)
    shown = as_seen(card_sections(c))
    assert "investigation" in shown.lower()
    assert "*A look at what it touches*\n```PREVIEW\ndead 0\ndead 1\ndead 2\ndead 3\ndead 4\n+2 more```" in shown
    bot.click(c, Action.APPROVE, user="U0BOB")
    modal = bot.slack.state.views()[-1]
    assert modal.payload["callback_id"] == Callback.CONFIRM_PURGE

    def submit(typed: str):  # type: ignore[no-untyped-def]
        return bot.sender.interaction({"type": "view_submission", "team": {"id": "T0LOCAL"}, "user": {"id": "U0BOB"},
                                       "view": {**modal.payload, "id": modal.id, "state": {"values": {CONFIRM_BLOCK: {
                                           CONFIRM_INPUT: {"type": "plain_text_input", "value": typed}}}}}})

    assert submit("pay.dlq").json()["errors"][CONFIRM_BLOCK].startswith("That is not the DLQ's name")
    assert store.get(bot.ctx.engine, request_id).state == "requested"  # type: ignore[union-attr]
    assert submit(dlq).status_code == 200
    bot.ctx.work.wait_idle(60)
    assert store.get(bot.ctx.engine, request_id).state == "executed"  # type: ignore[union-attr]
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    assert conn.channel().queue_declare(dlq, passive=True).method.message_count == 0
    conn.close()


def test_double_clicks_execute_once(bot: LocalBot, unique: str) -> None:
    topic, group = f"dbl-{unique}", f"dbl-g-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 9})
    kf.commit(group, {(topic, 0): 9})
    _, thread = incident_thread(bot, "Double click")
    bot.slash(f"/reset-offsets {group} --topic {topic} --shift-by -3 --reason 'test run'", thread=thread)
    request_id = last_request(bot)
    c = card(bot, request_id)
    clicks = [threading.Thread(target=bot.click, args=(c, Action.APPROVE), kwargs={"user": u, "wait": False})
              for u in ("U0BOB", "U0CAROL", "U0BOB", "U0CAROL")]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    bot.ctx.work.wait_idle(60)
    assert committed(group) == {0: 6}  # shifted once, not twice
    assert [t[2] for t in store.trail(bot.ctx.engine, request_id)].count("executed") == 1


def test_expired_requests_cannot_be_approved(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                             unique: str) -> None:
    running = start_bot(approvals_settings(tmp_path, expiry_minutes=0.02), local_slack)
    try:
        topic, group = f"exp-{unique}", f"exp-g-{unique}"
        kf.create_topic(topic, 1)
        kf.commit(group, {(topic, 0): 0})
        _, thread = incident_thread(running, "Expiry")
        running.slash(f"/reset-offsets {group} --topic {topic} --to-latest --reason 'test run'", thread=thread)
        request_id = last_request(running)
        deadline = time.time() + 15
        # The timer owner expires it and then edits its card: wait for what people see.
        while not card(running, request_id).text.endswith("(expired)"):
            assert time.time() < deadline, card(running, request_id).text
            time.sleep(0.2)
        assert store.get(running.ctx.engine, request_id).state == "expired"  # type: ignore[union-attr]
        assert "expired" in (flow.approve(running.ctx, request_id, "U0BOB") or "")
    finally:
        running.close()


def test_restart_between_approval_and_execution_executes_once(tmp_path: Path, local_slack: LocalSlack,
                                                              brokers: None, unique: str) -> None:
    topic, group = f"rst-{unique}", f"rst-g-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 12})
    kf.commit(group, {(topic, 0): 12})
    first = start_bot(approvals_settings(tmp_path), local_slack)
    _, thread = incident_thread(first, "Restart")
    first.slash(f"/reset-offsets {group} --topic {topic} --shift-by -2 --reason 'test run'", thread=thread)
    request_id = last_request(first)
    request = store.get(first.ctx.engine, request_id)
    assert request is not None
    # The approval is stored, then the bot stops before it executes.
    assert store.move(first.ctx.engine, request, frm="requested", to="approved", actor="U0BOB", now=time.time(),
                      decided_by="U0BOB")
    first.ctx.escalator.stop()  # type: ignore[union-attr]
    first.ctx.escalator = None
    first.close()
    second = start_bot(approvals_settings(tmp_path), local_slack)
    try:
        deadline = time.time() + 20
        while store.get(second.ctx.engine, request_id).state != "executed":  # type: ignore[union-attr]
            assert time.time() < deadline, store.get(second.ctx.engine, request_id)
            time.sleep(0.2)
        second.ctx.work.wait_idle(30)
    finally:
        second.close()
    assert committed(group) == {0: 10}
    assert [t[2] for t in store.trail(second.ctx.engine, request_id)].count("executing") == 1


def test_taking_the_timers_over_leaves_live_executions_alone(tmp_path: Path, local_slack: LocalSlack,
                                                             brokers: None, unique: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica takes the timers over: the resume duty fails what a dead process left
    executing (its claim ran out, or it was a process of this host that is gone, or
    the row predates claims), never what this process or another live one is running."""
    topic, group = f"own-{unique}", f"own-g-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 12})
    kf.commit(group, {(topic, 0): 12})
    gone = subprocess.Popen(["true"])
    gone.wait()
    now = time.time()
    executors = {"mine": (None, None), "live elsewhere": ("otherhost:4242:abcdef", now + 100),
                 "ran out elsewhere": ("otherhost:4242:abcdef", now - 1),
                 "dead here": (f"{socket.gethostname()}:{gone.pid}:abcdef", now + 100), "before claims": (None, None)}
    running = start_bot(approvals_settings(tmp_path), local_slack)
    ids: dict[str, str] = {}
    try:
        _, thread = incident_thread(running, "Own execution")
        for n, (name, (executor, until)) in enumerate(executors.items(), start=1):
            running.slash(f"/reset-offsets {group} --topic {topic} --shift-by -{n} --reason 'test run'", thread=thread)
            ids[name] = last_request(running)
            request = store.get(running.ctx.engine, ids[name])
            assert request is not None and store.move(running.ctx.engine, request, frm="requested", to="approved",
                                                      actor="U0BOB", now=time.time(), decided_by="U0BOB")
            assert store.move(running.ctx.engine, request, frm="approved", to="executing", actor="bot",
                              now=time.time(), executor=executor, executor_until=until)
        running.ctx.running.start(ids["mine"])
        flow.resume(running.ctx)
        states = {name: store.get(running.ctx.engine, i).state for name, i in ids.items()}  # type: ignore[union-attr]
        assert states == {"mine": "executing", "live elsewhere": "executing", "ran out elsewhere": "failed",
                          "dead here": "failed", "before claims": "failed"}
        # The executing process renews its claim while the action runs.
        monkeypatch.setattr(store, "EXECUTOR_TTL_S", 1.0)
        me = owners.this_process()
        with db.write(running.ctx.engine) as conn:
            conn.execute(update(store.requests_table).where(store.requests_table.c.id == ids["mine"])
                         .values(executor=me, executor_until=time.time() + 1.0))
        with flow._holding(running.ctx, ids["mine"], me):
            time.sleep(1.5)
            with running.ctx.engine.connect() as conn:
                until = conn.execute(select(store.requests_table.c.executor_until)
                                     .where(store.requests_table.c.id == ids["mine"])).scalar()
            assert until > time.time() + 0.5, "the claim was not renewed"
            # Another replica's resume (a name of its own; this one not in its running set).
            running.ctx.running.finish(ids["mine"])
            monkeypatch.setattr(owners, "this_process", lambda: "otherhost:77:replica")
            flow.resume(running.ctx)
    finally:
        running.ctx.running.finish(ids.get("mine", ""))
        running.close()
    assert store.get(running.ctx.engine, ids["mine"]).state == "executing"  # type: ignore[union-attr]


def test_destructive_commands_outside_an_incident_or_disabled(tmp_path: Path, local_slack: LocalSlack,
                                                              brokers: None) -> None:
    running = start_bot(approvals_settings(tmp_path, disabled={"local": ["purge_dlq"]}), local_slack)
    try:
        assert running.slash("/replay-dlq orders.dlq --reason 'test run'").json()["text"].startswith(
            "Destructive actions belong to an incident")
        _, thread = incident_thread(running, "Disabled")
        assert running.slash("/purge-dlq orders.dlq --reason 'test run'", thread=thread).json()["text"] == (
            "`purge-dlq` is switched off for cluster `local` by the configuration.")
        assert running.slash("/purge-dlq --cluster=local orders.dlq --reason 'test run'", thread=thread).json()["text"] == (
            "`purge-dlq` is switched off for cluster `local` by the configuration.")
        assert running.slash("/replay-dlq orders.dlq --cluster prod --reason 'test run'", thread=thread).json()["text"] == (
            "No Kafka cluster named `prod`. Configured: local.")
        assert running.slash("/replay-dlq orders.dlq --incident INC-2026-9999 --reason 'test run'").json()["text"] == (
            "There is no incident INC-2026-9999.")
        assert running.slash("/add-partitions --cluster local --reason 'test run'", thread=thread).json()["text"] == (
            "Usage: `/add-partitions <topic> <new-total> --reason \"why\" [--cluster NAME] [--incident ID]`")
    finally:
        running.close()


def test_export_and_restore_offsets_through_approval(bot: LocalBot, unique: str) -> None:
    topic, group = f"rp-{unique}", f"rp-g-{unique}"
    kf.create_topic(topic, 2)
    kf.produce(topic, {0: 10, 1: 10})
    kf.commit(group, {(topic, 0): 7, (topic, 1): 3})
    _, thread = incident_thread(bot, "Restore points")
    bot.slash(f"/export-offsets {group}", thread=thread)
    saved = bot.slack.state.response_url_posts()[-1]["text"]
    point = saved.split()[3]
    assert saved == f"Saved restore point {point} of `{group}` (2 partitions)."
    kf.commit(group, {(topic, 0): 10, (topic, 1): 10})
    bot.slash(f"/restore-offsets {point} --reason 'test run'", thread=thread)
    request_id = last_request(bot)
    bot.click(card(bot, request_id), Action.APPROVE, user="U0CAROL")
    assert committed(group) == {0: 7, 1: 3}
    assert store.get(bot.ctx.engine, request_id).state == "executed"  # type: ignore[union-attr]


def test_replay_posts_progress_and_verifies_counts(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                   unique: str) -> None:
    running = start_bot(approvals_settings(tmp_path, progress_every=10), local_slack)
    try:
        source, dlq = f"src-{unique}", f"src-{unique}.dlq"
        kf.create_topic(source, 1)
        kf.create_topic(dlq, 1)
        kf.produce(dlq, {0: 30}, headers=[("__connect.errors.topic", source.encode()),
                                          ("__connect.errors.exception.message", b"boom")])
        _, thread = incident_thread(running, "Replay")
        running.slash(f"/replay-dlq {dlq} --reason 'test run'", thread=thread)
        request_id = last_request(running)
        shown = as_seen(card_sections(card(running, request_id)))
        assert ("*A look at what it touches*\n```"
                f"PARTITION  OFFSET  KEY  ERROR PATTERN          GOES TO{' ' * (len(source) - 5)}PREVIEW\n"
                f"        0       0  k0   (unknown error): boom  {source}  message 0\n") in shown
        assert f"        0       4  k4   (unknown error): boom  {source}  message 4```" in shown
        running.click(card(running, request_id), Action.APPROVE, user="U0BOB")
        deadline = time.time() + 60
        while store.get(running.ctx.engine, request_id).state not in ("executed", "failed"):  # type: ignore[union-attr]
            assert time.time() < deadline
            time.sleep(0.2)
        running.ctx.work.wait_idle(30)
        request = store.get(running.ctx.engine, request_id)
        assert request is not None and request.state == "executed", request
        progress = [m for m in local_slack.state.messages("C0INCIDENTS", thread_ts=thread)
                    if m.text.startswith(f"{request_id}: ")]
        assert progress and any(e.get("action_id") == Action.ABORT for b in progress[0].blocks or []
                                if b["type"] == "actions" for e in b["elements"])
        assert request.verification is not None and request.verification["ok"]
        assert "30" in request.result["message"]  # type: ignore[index]
    finally:
        running.close()


def test_rabbit_replay_card_shows_the_sampled_messages_as_a_table(bot: LocalBot, unique: str) -> None:
    work, dlq = f"look-{unique}", f"look-{unique}.dlq"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = conn.channel()
    channel.queue_declare(dlq)
    channel.queue_declare(work, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    channel.confirm_delivery()
    for i in range(2):
        channel.basic_publish("", work, f"order {i}\n<@U0BOB> `x`".encode(), pika.BasicProperties(
            message_id=f"id-{i}", headers={"error": f"com.acme.ParseException: bad json at {i}"}))
    for _ in range(2):
        method, _props, _body = channel.basic_get(work)
        channel.basic_nack(method.delivery_tag, requeue=False)
    try:
        _, thread = incident_thread(bot, "Rabbit replay look")
        time.sleep(1)
        bot.slash(f"/replay-dlq {dlq} --reason 'test run'", thread=thread)
        shown = card_sections(card(bot, last_request(bot)))
        assert "<@U0BOB>" not in shown  # escaped: a message in a DLQ cannot mention anyone
        assert "{'" not in as_seen(shown)  # no Python dicts
        assert ("*A look at what it touches*\n```"
                "POSITION  MESSAGE ID  ERROR PATTERN                    PREVIEW\n"
                "       0  id-0        ParseException: bad json at <n>  order 0 <@U0BOB> 'x'\n"
                "       1  id-1        ParseException: bad json at <n>  order 1 <@U0BOB> 'x'```") in as_seen(shown)
    finally:
        channel.queue_delete(work)
        channel.queue_delete(dlq)
        conn.close()


def test_samples_that_escaping_lengthens_still_fit_one_section() -> None:
    samples = [{"offset": n, "key": "`" * 90, **{f"header_{h}": "<&>" * 100 for h in range(6)}} for n in range(10)]
    text = render_approval.samples_section(samples)["text"]["text"]
    assert len(text) <= 3000 and text.endswith("```") and text.count("```") == 2
    seen = as_seen(text).splitlines()
    assert seen[0].split()[:3] == ["*A", "look", "at"] and seen[1].split()[:4] == ["```OFFSET", "KEY", "HEADER", "0"]
    assert seen[2].startswith("     0  ") and seen[-1] == f"+{10 - (len(seen) - 3)} more```" and len(seen) < 8


def test_single_broker_leader_election_has_nothing_to_do(bot: LocalBot, unique: str) -> None:
    topic = f"el-{unique}"
    kf.create_topic(topic, 3)
    _, thread = incident_thread(bot, "Leaders")
    bot.slash(f"/elect-leaders {topic} --reason 'test run'", thread=thread)
    assert "found nothing to do" in bot.slack.state.response_url_posts()[-1]["text"]
    c = card(bot, last_request(bot))
    assert not any(b["type"] == "actions" for b in c.blocks)


def test_add_partitions_with_approval(bot: LocalBot, unique: str) -> None:
    topic = f"ap-{unique}"
    kf.create_topic(topic, 2)
    _, thread = incident_thread(bot, "Partitions")
    bot.slash(f"/add-partitions {topic} 5 --reason 'test run'", thread=thread)
    request_id = last_request(bot)
    shown = " ".join(b.get("text", {}).get("text", "") for b in card(bot, request_id).blocks if b["type"] == "section")
    assert "2" in shown and "5" in shown and "key" in shown.lower(), shown
    bot.click(card(bot, request_id), Action.APPROVE, user="U0BOB")
    md = kf.admin().list_topics(topic, timeout=10)
    assert len(md.topics[topic].partitions) == 5


def test_approvers_from_a_slack_user_group(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                           unique: str) -> None:
    running = start_bot(make_settings(tmp_path, approvals={"approvers_usergroup": "S0APPROVERS"}), local_slack)
    try:
        topic, group = f"ug-{unique}", f"ug-g-{unique}"
        kf.create_topic(topic, 1)
        kf.produce(topic, {0: 4})
        kf.commit(group, {(topic, 0): 4})
        _, thread = incident_thread(running, "User group approvers")
        running.slash(f"/reset-offsets {group} --topic {topic} --to-earliest --reason 'test run'", thread=thread, user="U0ALICE")
        request_id = last_request(running)
        running.click(card(running, request_id), Action.APPROVE, user="U0BOB")  # not in @approvers
        assert running.slack.state.ephemerals(user="U0BOB")[-1].text.startswith("Only <!subteam^S0APPROVERS> may")
        running.click(card(running, request_id), Action.APPROVE, user="U0DAVE")  # in @approvers
        assert store.get(running.ctx.engine, request_id).state == "executed"  # type: ignore[union-attr]
        assert committed(group) == {0: 0}
        assert running.slack.state.calls("usergroups.users.list")
    finally:
        running.close()
