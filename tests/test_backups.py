"""Backups against the real Kafka, RabbitMQ and Schema Registry: every kind restored
into an empty target (new topic names, a subject prefix, a fresh vhost) and compared
field by field with the source; the offsets CSV fed back through /restore-offsets;
/recovery check finding what changed since the backup."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from bot import db
from bot.actions import ActionContext, execute, reset_offsets, restore_backup, verify
from bot.backups import archive, definitions, recovery, run, schemas, topics
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.backup_fixtures import World, rabbit, sr
from tests.conftest import make_settings

ALL = ["schemas", "offsets", "definitions", "topics"]


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path, backups={"directory": str(tmp_path / "backups")})
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


@pytest.fixture
def world(brokers: None, unique: str) -> Iterator[World]:
    made = World(prefix=f"bk{unique}")
    try:
        yield made.build()
    finally:
        made.cleanup()


def committed(group: str) -> dict[tuple[str, int], int]:
    answer = kf.admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def without_ids(data: dict[str, Any]) -> dict[str, Any]:
    return {s: {"compatibility": v["compatibility"],
                "versions": [{k: x for k, x in ver.items() if k != "id"} for ver in v["versions"]]}
            for s, v in data["subjects"].items()}


def restored(ctx: ActionContext, words: str) -> None:
    plan = restore_backup.plan_words(ctx, "local", words)
    assert not plan.refusals and not plan.nothing_to_do, plan.summary
    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    assert check.message.startswith("Read back: the restored")
    assert restore_backup.replan(ctx, plan).nothing_to_do  # a second restore finds everything in place


def test_every_backup_restores_into_an_empty_target(ctx: ActionContext, world: World) -> None:
    p = world.prefix
    manifest = run.take(ctx.clients, ALL, created_by="U0TEST", only=p)
    assert not manifest.errors
    assert manifest.counts["topics"] == 2 and manifest.counts["subjects"] == 2 and manifest.counts["versions"] == 4
    assert manifest.counts["groups"] == 2 and manifest.counts["offsets"] == 4
    backup = archive.open_backup(ctx.clients.settings.backups.directory)
    assert backup.id == manifest.id
    paths = {f.path for f in manifest.files}
    assert {"schemas/local.json", "offsets/local.csv", "definitions/local.json", "topics/local.json",
            "topics/local.sh", f"definitions/local/{p}-vh.json"} <= paths
    for entry in manifest.files:
        backup.text(entry)  # each checksum holds
    shell = backup.text(next(f for f in manifest.files if f.path == "topics/local.sh"))
    assert (f"kafka-topics --bootstrap-server 127.0.0.1:9092 --create --topic {p}-orders --partitions 3 "
            f"--replication-factor 1 --config cleanup.policy=compact --config retention.ms=3600000") in shell
    whole = backup.text(next(f for f in manifest.files if f.path == "definitions/local.json"))
    assert '"password_hash"' not in whole and '"name": "guest"' in whole  # users kept, their hashes not

    target = f"r{p}"
    world.topics += [f"{target}{t}" for t in world.topics]
    world.subjects = [f"{target}{s}" for s in world.subjects] + world.subjects
    world.vhosts.append(f"{p}-restored")
    restored(ctx, f"topics {backup.id} --prefix {target} --only {p}")
    restored(ctx, f"schemas {backup.id} --prefix {target} --only {p}")
    restored(ctx, f"definitions {backup.id} --vhost {p}-vh --into {p}-restored")

    # Field by field, read from the clusters, without the bot's own diff.
    admin, timeout = ctx.clients.kafka_admin("local"), 5.0
    source_topics = topics.collect(admin, timeout, only=p)["topics"]
    copies = topics.collect(admin, timeout, only=target)["topics"]
    assert copies == {f"{target}{t}": v for t, v in source_topics.items()}
    assert copies[f"{target}{p}-orders"] == {"partitions": 3, "replication_factor": 1,
                                             "configs": {"cleanup.policy": "compact", "retention.ms": "3600000"}}
    reg = schemas.Registry("local", ctx.clients.settings.schema_registry["local"])
    source_subjects = without_ids(schemas.collect(reg, only=p))
    copied = without_ids(schemas.collect(reg, only=target))
    reg.close()
    assert set(copied) == {f"{target}{s}" for s in source_subjects}
    for subject, v in source_subjects.items():
        twin = copied[f"{target}{subject}"]
        assert twin["compatibility"] == v["compatibility"]
        assert [x["schema"] for x in twin["versions"]] == [x["schema"] for x in v["versions"]]
        assert [x["version"] for x in twin["versions"]] == [x["version"] for x in v["versions"]]
        assert [[{**r, "subject": r["subject"].removeprefix(target)} for r in x["references"]]
                for x in twin["versions"]] == [x["references"] for x in v["versions"]]
    assert copied[f"{target}{p}-customer-value"]["compatibility"] == "FULL"
    assert copied[f"{target}{p}-order-value"]["versions"][0]["references"] == [
        {"name": "Customer", "subject": f"{target}{p}-customer-value", "version": 2}]
    src = definitions.keyed(definitions.vhost_definitions(ctx.clients, "local", f"{p}-vh") or {}, "v")
    dst = definitions.keyed(definitions.vhost_definitions(ctx.clients, "local", f"{p}-restored") or {}, "v")
    assert src == dst and len(src["queues"]) == 2 and len(src["bindings"]) == 2 and len(src["policies"]) == 1


def test_offsets_csv_goes_back_through_restore_offsets(ctx: ActionContext, world: World) -> None:
    p = world.prefix
    manifest = run.take(ctx.clients, ["offsets"], created_by="U0TEST", only=p)
    backup = archive.open_backup(ctx.clients.settings.backups.directory, manifest.id)
    csv = backup.text(backup.entries("offsets")[0])
    assert csv.splitlines() == [f"{p}-billing,{p}-orders,0,3", f"{p}-billing,{p}-orders,1,5",
                                f"{p}-billing,{p}-orders,2,1", f"{p}-search,{p}-orders,0,5"]
    copy = f"{p}-billing-copy"
    world.groups.append(copy)
    plan = reset_offsets.plan_restore_words(ctx, "local", f"{manifest.id} {p}-billing --into {copy}")
    assert plan.kind == "restore_offsets" and plan.target == copy and not plan.refused, plan.refusals
    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    assert verify(ctx, plan, res).ok
    assert committed(copy) == committed(f"{p}-billing")
    # The original, moved on since, goes back to the backup's offsets.
    kf.commit(f"{p}-billing", {(f"{p}-orders", 0): 5, (f"{p}-orders", 2): 5})
    plan = reset_offsets.plan_restore_words(ctx, "local", f"{manifest.id[:15]} {p}-billing")
    assert "3 re-processed" not in plan.summary and plan.totals["reprocessed"] == 6
    assert execute(ctx, plan).status == "executed"
    assert committed(f"{p}-billing") == {(f"{p}-orders", 0): 3, (f"{p}-orders", 1): 5, (f"{p}-orders", 2): 1}
    with pytest.raises(Exception, match="holds no committed offsets of group"):
        reset_offsets.plan_restore_words(ctx, "local", f"{manifest.id} {p}-nobody")


def test_recovery_check_finds_what_changed(ctx: ActionContext, world: World) -> None:
    p = world.prefix
    manifest = run.take(ctx.clients, ["schemas", "definitions", "topics"], created_by="U0TEST", only=p)
    backup = archive.open_backup(ctx.clients.settings.backups.directory, manifest.id)
    admin = kf.admin()
    admin.delete_topics([f"{p}-audit"], operation_timeout=30)[f"{p}-audit"].result(timeout=30)
    resource = ConfigResource(ResourceType.TOPIC, f"{p}-orders", incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    v = quote(world.vhost, safe="")
    bindings = rabbit("GET", f"bindings/{v}/e/events/q/orders.dlq").json()
    assert rabbit("DELETE", f"bindings/{v}/e/events/q/orders.dlq/{bindings[0]['properties_key']}").ok
    assert sr("DELETE", f"subjects/{p}-customer-value/versions/3").ok

    diffs, notes = recovery.compare(ctx.clients, backup)
    found = {(d.change, d.area, d.item, d.field) for d in diffs}
    assert ("missing", "topic", f"{p}-audit", "") in found
    assert ("changed", "config", f"{p}-orders retention.ms", "value") in found
    assert ("missing", "binding", f"{p}-vh/events -> queue orders.dlq key='dead.#' args={{}}", "") in found
    assert ("missing", "version", f"{p}-customer-value v3", "") in found
    mine = [d for d in diffs if p in d.item]
    assert len(mine) == 4, [d.sentence for d in mine]
    changed = next(d for d in diffs if d.item == f"{p}-orders retention.ms")
    assert (changed.backup, changed.live) == ("3600000", "7200000")
    report = recovery.report(backup, diffs, notes)
    assert report.verdict.level.name == "CRITICAL"
    assert report.verdict.reasons[0].startswith("Missing from the clusters:")
    assert any(f"{p}-audit" in row for table in report.tables for row in (" ".join(r) for r in table.rows))


def test_restore_refuses_what_it_cannot_change(ctx: ActionContext, world: World) -> None:
    p = world.prefix
    manifest = run.take(ctx.clients, ["topics", "definitions"], created_by="U0TEST", only=p)
    # Into the originals: nothing to do, and the vhost's own definitions already match.
    assert restore_backup.plan_words(ctx, "local", f"topics {manifest.id} --only {p}").nothing_to_do
    assert restore_backup.plan_words(ctx, "local", f"definitions {manifest.id} --vhost {p}-vh").nothing_to_do
    # Topics changed since: a config put back, a partition added back; more partitions than the backup: refused.
    admin = kf.admin()
    resource = ConfigResource(ResourceType.TOPIC, f"{p}-orders", incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    admin.delete_topics([f"{p}-audit"], operation_timeout=30)[f"{p}-audit"].result(timeout=30)
    recreated = False
    for _ in range(50):  # a deleted topic's name is free again once the controller has finished with it
        try:
            kf.create_topic(f"{p}-audit", 1)
            recreated = True
            break
        except KafkaException:
            time.sleep(0.2)
    assert recreated
    topics.wait_visible(admin, 5.0, [f"{p}-audit"])
    plan = restore_backup.plan_words(ctx, "local", f"topics {manifest.id} --only {p}")
    assert {r.key: r.values["detail"] for r in plan.rows} == {
        f"{p}-orders": "retention.ms: 7200000 -> 3600000", f"{p}-audit": "partitions 1 -> 2"}
    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    assert verify(ctx, plan, res).ok
    assert len(admin.list_topics(timeout=10).topics[f"{p}-audit"].partitions) == 2
    # A queue with other arguments cannot be changed in place: refused, named, the rest still restored.
    v = quote(world.vhost, safe="")
    rabbit("DELETE", f"queues/{v}/orders")
    assert rabbit("PUT", f"queues/{v}/orders", {"durable": True, "arguments": {"x-max-length": 10}}).ok
    plan = restore_backup.plan_words(ctx, "local", f"definitions {manifest.id} --vhost {p}-vh")
    assert [r.item for r in plan.refusals] == [f"{p}-vh/orders"]
    assert "RabbitMQ cannot change that in place" in plan.refusals[0].reason
    with pytest.raises(Exception, match="no backup nope"):
        restore_backup.plan_words(ctx, "local", "topics nope")


def test_retention_and_no_secrets_in_backups(tmp_path: Path, brokers: None, unique: str) -> None:
    settings = make_settings(tmp_path, backups={"directory": str(tmp_path / "kept"), "keep": 2})
    clients = Clients(settings)
    secret = settings.slack.signing_secret.get_secret_value()  # type: ignore[union-attr]
    vhost = f"bksec{unique}"
    v = quote(vhost, safe="")
    try:
        assert rabbit("PUT", f"vhosts/{v}").ok
        assert rabbit("PUT", f"permissions/{v}/guest", {"configure": ".*", "write": ".*", "read": ".*"}).ok
        # Someone pasted the bot's signing secret into a queue argument, and a shovel-like URI with a password.
        assert rabbit("PUT", f"queues/{v}/leaky", {"durable": True, "arguments": {
            "x-note": f"secret {secret}", "x-uri": "amqp://ops:hunter2@broker/vh"}}).ok
        ids = [run.take(clients, ["definitions"], created_by="U0TEST").id for _ in range(3)]
        kept = [m.id for m in archive.listing(settings.backups.directory)]
        assert kept == ids[:0:-1]  # the newest two; the first was deleted by retention
        backup = archive.open_backup(settings.backups.directory)
        texts = [backup.text(f) for f in backup.manifest.files]
        assert not any(secret in t or "hunter2" in t or '"password_hash"' in t for t in texts)
        mine = backup.json("definitions")["vhosts"][vhost]["queues"][0]["arguments"]
        assert mine == {"x-note": "secret ********", "x-uri": "amqp://ops:********@broker/vh"}
    finally:
        rabbit("DELETE", f"vhosts/{v}")
