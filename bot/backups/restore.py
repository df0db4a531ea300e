"""What a restore would do, doing it, and reading it back, as plain data for the
restore action (bot.actions.restore_backup): per item (a topic, a subject, a queue...)
whether it is created, changed, left as it is, or cannot be restored and why.

Targets: topics under a name prefix, subjects under a subject prefix, one vhost's
definitions into another vhost; `only` restores the names starting with it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from bot.backups import definitions, schemas, topics
from bot.backups.archive import Backup, open_backup
from bot.backups.model import BackupError, Difference
from bot.probes.clients import Clients

What = Literal["schemas", "definitions", "topics"]
Action = Literal["create", "change", "same", "refuse"]


class Target(BaseModel):
    what: What
    backup: str  # an id, or "latest" (pinned to the id when planned)
    cluster: str  # the Kafka cluster, RabbitMQ or Schema Registry, in the backup and restored into
    prefix: str = ""  # topics, subjects
    only: str | None = None  # names (before the prefix) starting with this
    vhost: str | None = None  # definitions: the vhost of the backup (default: the cluster's)
    into: str | None = None  # definitions: the vhost restored into (default: the same)


class Item(BaseModel):
    area: str
    key: str
    action: Action
    detail: str = ""


def _source_vhost(clients: Clients, t: Target) -> str:
    return t.vhost or clients.settings.rabbitmq[t.cluster].vhost


def wanted(clients: Clients, backup: Backup, t: Target) -> dict[str, Any]:
    """The backup's part that is restored, named as it will be in the target."""
    if t.what == "topics":
        return topics.renamed(topics.select(backup.json("topics", t.cluster), t.only), t.prefix)
    if t.what == "schemas":
        return schemas.renamed(schemas.select(backup.json("schemas", t.cluster), t.only), t.prefix)
    vhost = _source_vhost(clients, t)
    found = backup.json("definitions", t.cluster)["vhosts"].get(vhost)
    if found is None:
        raise BackupError(f"Backup {backup.id} holds no vhost {vhost!r} of {t.cluster}.")
    return found


def live(clients: Clients, t: Target) -> Any:
    """The target as it is now (only the names a restore can touch)."""
    if t.what == "topics":
        kafka = clients.settings.kafka[t.cluster]
        return topics.collect(clients.kafka_admin(t.cluster), kafka.request_timeout_s,
                              only=t.prefix + (t.only or "") or None)
    if t.what == "schemas":
        reg = schemas.Registry(t.cluster, clients.settings.schema_registry[t.cluster])
        try:
            return schemas.collect(reg, only=t.prefix + (t.only or "") or None,
                                   workers=clients.settings.backups.workers)
        finally:
            reg.close()
    return definitions.vhost_definitions(clients, t.cluster, t.into or _source_vhost(clients, t))


def plan_items(clients: Clients, t: Target) -> tuple[Backup, list[Item], dict[str, Any]]:
    backup = open_backup(clients.settings.backups.directory, t.backup)
    want = wanted(clients, backup, t)
    have = live(clients, t)
    if t.what == "topics":
        return backup, _topic_items(want, have), want
    if t.what == "schemas":
        items = _schema_items(want, have)
        if not t.prefix and not t.only:
            level = backup.json("schemas", t.cluster).get("global_compatibility")
            if level and level != have.get("global_compatibility"):
                items.append(Item(area="compatibility", key="(global)", action="change",
                                  detail=f"{have.get('global_compatibility')} -> {level}"))
        return backup, items, want
    return backup, _definition_items(t.into or _source_vhost(clients, t), want, have), want


def _topic_items(want: dict[str, Any], have: dict[str, Any]) -> list[Item]:
    items = []
    for name, spec in want["topics"].items():
        now = have["topics"].get(name)
        if now is None:
            configs = ", ".join(f"{k}={v}" for k, v in spec["configs"].items())
            items.append(Item(area="topic", key=name, action="create",
                              detail=f"{spec['partitions']} partitions, RF {spec['replication_factor']}"
                                     + (f", {configs}" if configs else "")))
            continue
        if now["partitions"] > spec["partitions"]:
            items.append(Item(area="topic", key=name, action="refuse",
                              detail=f"has {now['partitions']} partitions, the backup {spec['partitions']}: "
                                     f"Kafka cannot remove partitions."))
            continue
        changes = []
        if now["partitions"] < spec["partitions"]:
            changes.append(f"partitions {now['partitions']} -> {spec['partitions']}")
        changes += [f"{k}: {now['configs'].get(k)} -> {v}" for k, v in spec["configs"].items()
                    if now["configs"].get(k) != v]
        items.append(Item(area="topic", key=name, action="change" if changes else "same", detail="; ".join(changes)))
    return items


def _schema_items(want: dict[str, Any], have: dict[str, Any]) -> list[Item]:
    items = []
    for subject, spec in want["subjects"].items():
        now = have["subjects"].get(subject)
        if now is None:
            items.append(Item(area="subject", key=subject, action="create",
                              detail=f"{len(spec['versions'])} versions, compatibility {spec['compatibility']}"))
            continue
        present = {v["schema"] for v in now["versions"]}
        new = [v["version"] for v in spec["versions"] if v["schema"] not in present]
        changes = [f"add versions {', '.join(map(str, new))}"] if new else []
        if spec["compatibility"] != now["compatibility"]:
            changes.append(f"compatibility {now['compatibility']} -> {spec['compatibility']}")
        items.append(Item(area="subject", key=subject, action="change" if changes else "same",
                          detail="; ".join(changes)))
    return items


def _definition_items(vhost: str, want: dict[str, Any], have: dict[str, Any] | None) -> list[Item]:
    items = [] if have is not None else [Item(area="vhost", key=vhost, action="create")]
    backup_keyed, live_keyed = definitions.keyed(want, vhost), definitions.keyed(have or {}, vhost)
    for kind in definitions.KINDS:
        area = kind[:-1] if kind != "policies" else "policy"
        for key, fields in backup_keyed[kind].items():
            now = live_keyed[kind].get(key)
            if now is None:
                items.append(Item(area=area, key=key, action="create"))
            elif now != fields:
                differs = [f for f in fields if fields[f] != now.get(f)]
                if kind == "policies":
                    items.append(Item(area=area, key=key, action="change", detail=f"{', '.join(differs)} replaced"))
                else:
                    items.append(Item(area=area, key=key, action="refuse", detail=(
                        f"exists with other {', '.join(differs)}: RabbitMQ cannot change that in place; "
                        f"delete it or restore into another vhost.")))
            else:
                items.append(Item(area=area, key=key, action="same"))
    return items


def execute(clients: Clients, t: Target, backup_id: str, items: list[Item]) -> list[str]:
    """Do the plan's create and change items; a sentence per failure."""
    backup = open_backup(clients.settings.backups.directory, backup_id)
    want = wanted(clients, backup, t)
    todo = {(i.area, i.key): i for i in items if i.action in ("create", "change")}
    if t.what == "topics":
        kafka = clients.settings.kafka[t.cluster]
        admin = clients.kafka_admin(t.cluster)
        create = [k for (a, k), i in todo.items() if i.action == "create"]
        change = [k for (a, k), i in todo.items() if i.action == "change"]
        grow = [k for k in change if todo[("topic", k)].detail.startswith("partitions ")]
        failures = topics.restore(admin, kafka.request_timeout_s, want, create=create, grow=grow,
                                  reconfigure=[k for k in change if want["topics"][k]["configs"]])
        topics.wait_visible(admin, kafka.request_timeout_s, create + grow)
        return failures
    if t.what == "schemas":
        source = schemas.select(backup.json("schemas", t.cluster), t.only)
        restore_subjects = {s for s in source["subjects"] if ("subject", t.prefix + s) in todo}
        now = live(clients, t)
        skip = {s: {v["schema"] for v in now["subjects"].get(t.prefix + s, {"versions": []})["versions"]}
                for s in restore_subjects}
        reg = schemas.Registry(t.cluster, clients.settings.schema_registry[t.cluster],
                               clients.settings.backups.workers)
        try:
            schemas.restore(reg, {**source, "subjects": {s: source["subjects"][s] for s in restore_subjects}},
                            prefix=t.prefix, workers=clients.settings.backups.workers, skip=skip)
            if ("compatibility", "(global)") in todo:
                reg.call("PUT", "config", {"compatibility": source["global_compatibility"]})
        finally:
            reg.close()
        return []
    refused = {i.key for i in items if i.action == "refuse"}
    vhost = t.into or _source_vhost(clients, t)
    keyed_names = definitions.keyed(want, vhost)
    kept = {kind: [item for item, key in zip(want.get(kind, []), keyed_names[kind]) if key not in refused]
            for kind in definitions.KINDS}
    definitions.restore(clients, t.cluster, {**want, **kept}, vhost)
    return []


def verify(clients: Clients, t: Target, backup_id: str, items: list[Item]) -> list[Difference]:
    """Read the target back and compare it with the backup, leaving out refused items."""
    backup = open_backup(clients.settings.backups.directory, backup_id)
    want = wanted(clients, backup, t)
    have = live(clients, t)
    refused = {i.key for i in items if i.action == "refuse"}
    if t.what == "topics":
        diffs = topics.diff(want, have, extras=False)
    elif t.what == "schemas":
        diffs = schemas.diff(schemas.renumbered(want), schemas.renumbered(have), extras=False)
    else:
        diffs = definitions.diff_vhost(want, have, t.into or _source_vhost(clients, t), extras=False)
    return [d for d in diffs if d.item not in refused and d.item.split(" ", 1)[0] not in refused]
