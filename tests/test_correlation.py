"""One incident per problem, as on-call sees it in Slack: alerts about the same subject
join its incident whichever source sent them; lag and DLQ alerts on a cluster with a
broker down attach to that incident (listed on its card, said in its thread, no
ladder of their own); `/incident split` and `/incident merge` regroup by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from bot import db
from bot.alerts.models import Alert, AlertBatch
from bot.app.localbot import LocalBot
from bot.incidents import flows, ladder, service
from bot.incidents.model import Incident
from bot.incidents.tables import incidents
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import send


def broker_down(cluster: str, unique: str) -> dict[str, Any]:
    labels = {"alertname": "KafkaBrokerDown", "severity": "critical", "cluster": cluster, "broker_id": "1"}
    return alertmanager(f"broker-{unique}", [am_alert(f"b-{unique}", labels, summary=f"broker 1 of {cluster} is down")])


def lag_am(cluster: str, group: str, value: str = "12400", status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "cluster": cluster, "consumergroup": group}
    alert = am_alert(f"lag-{cluster}-{group}", labels, status=status, summary=f"{group} is lagging")
    alert["annotations"]["value"] = value
    return alertmanager(f"lag-{cluster}-{group}", [alert], status=status)


def lag_generic(cluster: str, group: str) -> dict[str, Any]:
    return {"title": f"{group} lags", "severity": "warning", "dedup_key": f"generic-{group}",
            "labels": {"alertname": "KafkaConsumerLagHigh", "cluster": cluster, "consumergroup": group}}


def parent_of(bot: LocalBot, ref: str) -> Any:
    return next(m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith("[") and ref in m.text
                and m.thread_ts in (None, m.ts))


def card_text(bot: LocalBot, ref: str) -> str:
    return "\n".join(b["text"]["text"] for b in parent_of(bot, ref).blocks if b["type"] == "section" and b.get("text"))


def thread_texts(bot: LocalBot, ref: str) -> list[str]:
    return [m.text for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent_of(bot, ref).ts)]


def incident(bot: LocalBot, ref: str) -> Incident:
    found = service.get(bot.ctx.engine, ref)
    assert found is not None
    return found


def timeline(bot: LocalBot, ref: str) -> list[str]:
    return [f"{e.kind}: {e.text}" for e in service.timeline(bot.ctx.engine, incident(bot, ref))]


def count_incidents(bot: LocalBot) -> int:
    with bot.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(incidents)).scalar_one())


def ladder_states(bot: LocalBot, ref: str) -> list[str]:
    with bot.ctx.engine.connect() as conn:
        return [s.status for s in ladder.steps(conn, incident(bot, ref).id)]


def last_reply(bot: LocalBot, user: str = "U0ALICE") -> str:
    return bot.slack.state.ephemerals(user=user)[-1].text


def test_an_alertmanager_alert_joins_the_open_incident_of_a_generic_alert_for_the_same_group(
        alerting_bot: LocalBot, unique: str) -> None:
    cluster, group = f"c-{unique}", f"orders-{unique}"
    first = send(alerting_bot, lag_generic(cluster, group), source="generic").json()
    assert first["created"] is True
    ref = first["incident"]
    joined = send(alerting_bot, lag_am(cluster, group)).json()
    assert joined == {"status": "accepted", "incident": ref, "created": False, "duplicate": False}
    assert any(t.startswith(f"joined: Alert group lag-{cluster}-{group} from alertmanager joined: same subject as {ref} "
                            f"(cluster `{cluster}`, group `{group}`, high-consumer-lag)") for t in timeline(alerting_bot, ref))
    assert thread_texts(alerting_bot, ref)[-1].startswith(
        f":link: Joined: alertmanager reports the same problem (group `{group}`, high-consumer-lag)")
    # the watch's breaches come the same way
    watch = AlertBatch(source="watch", group_key=f"watch:lag:{cluster}:{group}", status="firing", title=f"{group} lags",
                       common_labels={}, alerts=[Alert(fingerprint=f"w-{unique}", status="firing",
                                                       name="WatchConsumerLagHigh", severity="warning", annotations={},
                                                       labels={"alertname": "WatchConsumerLagHigh", "cluster": cluster,
                                                               "consumergroup": group, "severity": "warning",
                                                               "runbook": "high-consumer-lag"})])
    assert flows.take_alerts(alerting_bot.ctx, watch).incident.ref == ref  # type: ignore[union-attr]
    alerting_bot.ctx.work.wait_idle(60)
    # a group of its own, or the same group under another runbook, is another problem
    other = send(alerting_bot, lag_generic(cluster, f"{group}-b"), source="generic").json()
    assert other["created"] is True
    assert count_incidents(alerting_bot) == 2
    # once resolved, the same problem is a new incident
    alerting_bot.slash(f"/incident resolve {ref}")
    again = send(alerting_bot, {**lag_generic(cluster, group), "dedup_key": f"again-{unique}"}, source="generic").json()
    assert again["created"] is True and again["incident"] != ref


def test_lag_on_a_cluster_with_a_broker_down_attaches_to_its_incident(alerting_bot: LocalBot, unique: str) -> None:
    cluster, g1, g2 = f"c-{unique}", f"orders-{unique}", f"billing-{unique}"
    root = send(alerting_bot, broker_down(cluster, unique)).json()
    assert root["created"] is True
    ref = root["incident"]
    ladder_before = ladder_states(alerting_bot, ref)
    first = send(alerting_bot, lag_am(cluster, g1)).json()
    second = send(alerting_bot, lag_generic(cluster, g2), source="generic").json()
    assert (first["incident"], first["created"], second["incident"], second["created"]) == (ref, False, ref, False)
    assert count_incidents(alerting_bot) == 1  # so one ladder
    assert ladder_states(alerting_bot, ref) == ladder_before
    card = card_text(alerting_bot, ref)
    assert "*Affected subjects (2, 2 firing)*, likely the same cause" in card
    assert f"• lag on group `{g1}` (12,400): :rotating_light: firing" in card
    assert f"• lag on group `{g2}`: :rotating_light: firing" in card
    thread = thread_texts(alerting_bot, ref)
    assert f":link: Attached: lag on group `{g1}` (12,400) — likely the same cause." in thread
    assert f":link: Attached: lag on group `{g2}` — likely the same cause." in thread
    assert not any(t.startswith(":rotating_light: Firing") for t in thread)
    # the same group delivered again: nothing new
    assert send(alerting_bot, lag_am(cluster, g1)).json()["duplicate"] is True
    # its resolution is tracked, on the root's card
    send(alerting_bot, lag_am(cluster, g1, status="resolved"))
    card = card_text(alerting_bot, ref)
    assert f"• lag on group `{g1}` (12,400): :white_check_mark: resolved" in card
    assert f"• lag on group `{g2}`: :rotating_light: firing" in card
    assert thread_texts(alerting_bot, ref)[-1] == ":white_check_mark: Resolved: KafkaConsumerLagHigh."
    # the postmortem lists them
    alerting_bot.slash("/incident postmortem", thread=parent_of(alerting_bot, ref).ts)
    draft = next(f for f in alerting_bot.slack.state.files() if f.filename == f"{ref}-postmortem.md").data.decode()
    assert "## Affected subjects" in draft and f"- lag on group `{g1}` (12,400): :white_check_mark: resolved" in draft
    # lag on another cluster is not this broker's doing
    elsewhere = send(alerting_bot, lag_am(f"other-{unique}", f"orders-{unique}")).json()
    assert elsewhere["created"] is True and elsewhere["incident"] != ref


def test_lag_after_the_window_opens_its_own_incident(alerting_bot: LocalBot, unique: str) -> None:
    cluster = f"c-{unique}"
    ref = send(alerting_bot, broker_down(cluster, unique)).json()["incident"]
    window = alerting_bot.ctx.settings.incidents.correlation_window_minutes * 60
    with db.write(alerting_bot.ctx.engine) as conn:  # the broker went down 31 minutes ago
        conn.execute(update(incidents).where(incidents.c.ref == ref).values(created_at=incidents.c.created_at - window - 60))
    lag = send(alerting_bot, lag_am(cluster, f"orders-{unique}")).json()
    assert lag["created"] is True and lag["incident"] != ref
    assert "Affected" not in card_text(alerting_bot, ref)


def test_split_makes_an_attached_subject_its_own_incident(alerting_bot: LocalBot, unique: str) -> None:
    cluster, g1, g2 = f"c-{unique}", f"orders-{unique}", f"billing-{unique}"
    ref = send(alerting_bot, broker_down(cluster, unique)).json()["incident"]
    send(alerting_bot, lag_am(cluster, g1))
    send(alerting_bot, lag_am(cluster, g2))
    parent = parent_of(alerting_bot, ref)
    # errors: a subject not attached, no subject, outside any thread
    assert alerting_bot.slash(f"/incident split group:nope-{unique}", thread=parent.ts).json()["text"] == (
        f"`group:nope-{unique}` is not attached to {ref}. Attached: group `{g1}`, group `{g2}`.")
    assert alerting_bot.slash("/incident split", thread=parent.ts).json()["text"].startswith("Split which subject?")
    assert alerting_bot.slash(f"/incident split group:{g1}").json()["text"].startswith("Which incident?")
    # a plain name that two attached subjects carry
    dlq = {"title": f"{g2} DLQ", "runbook": "dlq-filling", "labels": {"cluster": cluster, "topic": g2}}
    assert send(alerting_bot, dlq, source="generic").json()["incident"] == ref
    assert alerting_bot.slash(f"/incident split {g2}", thread=parent.ts).json()["text"] == (
        f"`{g2}` names more than one attached subject (group `{g2}`, topic `{g2}`); say which, as `group:{g2}`, "
        f"`topic:{g2}` or `queue:{g2}`.")

    ack = alerting_bot.slash(f"/incident split group:{g1}", thread=parent.ts, user="U0BOB").json()["text"]
    assert ack == f"Splitting group:{g1} off {ref}…"
    new = next(i for i in service.list_open(alerting_bot.ctx.engine) if i.ref != ref)
    assert last_reply(alerting_bot, "U0BOB").startswith(f"group `{g1}` is now {new.ref}")
    assert (new.runbook_id, new.subject.group, new.subject.cluster) == ("high-consumer-lag", g1, cluster)
    assert new.severity.value == "warning"
    assert ladder_states(alerting_bot, new.ref) == ["pending"] * 5  # a ladder of its own
    # announced like any new incident: card, checklist, first checks
    assert thread_texts(alerting_bot, new.ref)[0] == "Runbook: High consumer lag (5 diagnosis steps)"
    card = card_text(alerting_bot, ref)
    assert g1 not in card and f"• lag on group `{g2}` (12,400): :rotating_light: firing" in card
    assert thread_texts(alerting_bot, ref)[-1].startswith(f":scissors: Split by <@U0BOB>: group `{g1}` is now <")
    assert f"split: Split by <@U0BOB>: group `{g1}` is now its own incident, {new.ref}" in timeline(alerting_bot, ref)
    assert f"split: Split from {ref} by <@U0BOB>: group `{g1}` is an incident of its own" in timeline(alerting_bot,
                                                                                                          new.ref)
    # its alert group follows it: the next delivery is counted there
    again = send(alerting_bot, lag_am(cluster, g1)).json()
    assert (again["incident"], again["duplicate"]) == (new.ref, True)
    # split again: it is no longer attached
    assert alerting_bot.slash(f"/incident split {g1}", thread=parent.ts).json()["text"] == (
        f"`{g1}` is not attached to {ref}. Attached: group `{g2}`, topic `{g2}`.")


def test_merge_folds_one_incident_into_another(alerting_bot: LocalBot, unique: str) -> None:
    cluster, g1, g2 = f"c-{unique}", f"orders-{unique}", f"billing-{unique}"
    into = send(alerting_bot, lag_am(cluster, g1)).json()["incident"]
    ref = send(alerting_bot, lag_am(cluster, g2)).json()["incident"]
    assert into != ref
    parent = parent_of(alerting_bot, ref)
    # errors: unknown, itself, outside a thread, no argument
    assert alerting_bot.slash("/incident merge INC-1999-0001", thread=parent.ts).json()["text"] == (
        "There is no incident INC-1999-0001. `/incident list` shows the open ones.")
    assert alerting_bot.slash(f"/incident merge {ref}", thread=parent.ts).json()["text"] == (
        f"{ref} cannot be merged into itself: name the incident to fold it into.")
    assert alerting_bot.slash(f"/incident merge {into}").json()["text"].startswith(
        f"Run `/incident merge {into}` in the thread of the incident to fold into it")
    assert alerting_bot.slash("/incident merge", thread=parent.ts).json()["text"].startswith("Merge into which incident?")

    ack = alerting_bot.slash(f"/incident merge {into}", thread=parent.ts, user="U0BOB").json()["text"]
    assert ack == f"Merging {ref} into {into}…"
    assert last_reply(alerting_bot, "U0BOB").startswith(f"{ref} is merged into <")
    folded = incident(alerting_bot, ref)
    assert folded.status.value == "resolved" and folded.resolved_by == "U0BOB"
    assert f"resolved: Resolved: merged into {into}" in timeline(alerting_bot, ref)
    assert set(ladder_states(alerting_bot, ref)) == {"cancelled"}
    assert thread_texts(alerting_bot, ref)[-1].startswith(":twisted_rightwards_arrows: Merged into <")
    assert thread_texts(alerting_bot, into)[-1].startswith(
        f":twisted_rightwards_arrows: {ref} ({g2} is lagging) was merged into this incident by <@U0BOB>")
    card = card_text(alerting_bot, into)
    assert f"• {ref} merged ({g2} is lagging): lag on group `{g2}`: :rotating_light: firing" in card
    assert parent_of(alerting_bot, ref).text.endswith("(resolved)")
    # its alert group now lands in the target, and its resolution shows there
    again = send(alerting_bot, lag_am(cluster, g2)).json()
    assert (again["incident"], again["duplicate"]) == (into, True)
    send(alerting_bot, lag_am(cluster, g2, status="resolved"))
    assert f"• {ref} merged ({g2} is lagging): lag on group `{g2}`: :white_check_mark: resolved" in card_text(
        alerting_bot, into)
    # and so does the same problem from another source
    assert send(alerting_bot, lag_generic(cluster, g2), source="generic").json()["incident"] == into
    # a resolved incident can neither be merged nor be merged into
    assert alerting_bot.slash(f"/incident merge {into}", thread=parent.ts).json()["text"] == (
        f"{ref} is resolved already; there is nothing to merge.")
    assert alerting_bot.slash(f"/incident merge {into} {ref}").json()["text"] == (
        f"{ref} is resolved; merge into an open incident (`/incident list`).")


def test_an_alertmanager_group_of_lagging_groups_attaches_each_as_it_grows(alerting_bot: LocalBot,
                                                                          unique: str) -> None:
    cluster = f"c-{unique}"
    ref = send(alerting_bot, broker_down(cluster, unique)).json()["incident"]

    def grouped(*groups: str) -> dict[str, Any]:  # Alertmanager grouping by alertname and cluster
        alerts = [am_alert(f"lag-{g}-{unique}", {"alertname": "KafkaConsumerLagHigh", "severity": "warning",
                                                 "cluster": cluster, "consumergroup": g}) for g in groups]
        return alertmanager(f"lag-{cluster}", alerts, common={"alertname": "KafkaConsumerLagHigh", "cluster": cluster})

    assert send(alerting_bot, grouped("a", "b")).json()["incident"] == ref
    assert send(alerting_bot, grouped("a", "b", "c")).json()["incident"] == ref
    card = card_text(alerting_bot, ref)
    assert "*Affected subjects (3, 3 firing)*" in card
    assert all(f"• lag on group `{g}`: :rotating_light: firing" in card for g in "abc")
    assert thread_texts(alerting_bot, ref)[-1] == ":link: Attached: lag on group `c` — likely the same cause."
    assert count_incidents(alerting_bot) == 1


def watch_batch(cluster: str, alertname: str, runbook: str, **labels: str) -> AlertBatch:
    """As the watch sends a breach (bot.watch.round.batch)."""
    every = {"alertname": alertname, "cluster": cluster, **labels}
    return AlertBatch(source="watch", group_key=f"watch:{alertname}:{cluster}", status="firing", title=alertname,
                      common_labels=every, runbook=runbook,
                      alerts=[Alert(fingerprint=f"watch-{alertname}-{cluster}", status="firing", name=alertname,
                                    severity="critical", labels={**every, "severity": "critical"},
                                    annotations={"summary": alertname})])


def test_lag_attaches_to_the_watchs_cluster_unreachable_incident_but_a_rabbitmq_dlq_does_not(
        alerting_bot: LocalBot, unique: str) -> None:
    cluster = f"c-{unique}"
    root = flows.take_alerts(alerting_bot.ctx, watch_batch(cluster, "WatchKafkaClusterUnreachable", "broker-health"))
    alerting_bot.ctx.work.wait_idle(60)
    assert root.created and root.incident is not None
    ref = root.incident.ref
    lag = send(alerting_bot, lag_am(cluster, f"orders-{unique}")).json()
    assert (lag["incident"], lag["created"]) == (ref, False)
    # a RabbitMQ cluster of the same name is another cluster: its DLQ opens its own incident ...
    dlq = {"title": "orders.dlq filling", "labels": {"alertname": "RabbitDLQDepthHigh", "cluster": cluster,
                                                     "queue": f"orders-{unique}.dlq"}}
    assert send(alerting_bot, dlq, source="generic").json()["created"] is True
    # ... and its nodes' alarm is not the Kafka cluster's problem either
    rabbit = flows.take_alerts(alerting_bot.ctx, watch_batch(cluster, "WatchRabbitMQNodes", "broker-health"))
    alerting_bot.ctx.work.wait_idle(60)
    assert rabbit.created and rabbit.incident is not None and rabbit.incident.ref != ref
    assert "*Affected subjects (1, 1 firing)*" in card_text(alerting_bot, ref)
