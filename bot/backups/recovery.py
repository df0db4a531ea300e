"""`/recovery check`: the operations guide's disaster-recovery step "verify topic and
queue configurations", as a comparison of the live clusters with a backup: topics,
partition counts, replication and configs; vhosts, queues, exchanges, bindings and
policies; subjects, versions and compatibility. Every difference is listed, what the
backup holds and the cluster lacks first. Offsets are not compared: they move all the
time; they are restored, not checked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bot.backups import definitions, schemas, topics
from bot.backups.archive import Backup
from bot.backups.model import BackupError, Difference, ordered
from bot.health.verdict import Level, Verdict
from bot.probes.clients import Clients
from bot.reports.report import Report, Table


def compare(clients: Clients, backup: Backup) -> tuple[list[Difference], list[str]]:
    """Every difference between the backup and the live clusters, and a sentence for
    each part that was compared or could not be."""
    diffs: list[Difference] = []
    notes: list[str] = []
    settings = clients.settings
    for entry in backup.entries("topics"):
        if not entry.path.endswith(".json"):
            continue
        cluster = entry.cluster
        if cluster not in settings.kafka:
            notes.append(f"Topics of {cluster} not compared: no Kafka cluster of that name is configured.")
            continue
        try:
            live = topics.collect(clients.kafka_admin(cluster), settings.kafka[cluster].request_timeout_s)
        except BackupError as exc:
            notes.append(f"Topics of {cluster} not compared: {exc}")
            continue
        saved = backup.json("topics", cluster)
        diffs += topics.diff(saved, live)
        notes.append(f"Kafka {cluster}: {len(saved['topics'])} topics in the backup, {len(live['topics'])} live.")
    for entry in backup.entries("definitions"):
        if entry.path.count("/") != 1:
            continue
        cluster = entry.cluster
        if cluster not in settings.rabbitmq:
            notes.append(f"Definitions of {cluster} not compared: no RabbitMQ of that name is configured.")
            continue
        try:
            live_defs = definitions.collect(clients, cluster)["broker"]
        except BackupError as exc:
            notes.append(f"Definitions of {cluster} not compared: {exc}")
            continue
        saved_defs = backup.json("definitions", cluster)["broker"]
        vhosts = {v["name"]: {} for v in saved_defs.get("vhosts", [])}
        diffs += [Difference(area="vhost", item=v, change="missing") for v in vhosts
                  if v not in {x["name"] for x in live_defs.get("vhosts", [])}]
        diffs += definitions.diff_keyed(definitions.keyed(saved_defs), definitions.keyed(live_defs))
        notes.append(f"RabbitMQ {cluster}: {len(saved_defs.get('queues', []))} queues in the backup, "
                     f"{len(live_defs.get('queues', []))} live.")
    for entry in backup.entries("schemas"):
        name = entry.cluster
        if name not in settings.schema_registry:
            notes.append(f"Schemas of {name} not compared: no Schema Registry of that name is configured.")
            continue
        reg = schemas.Registry(name, settings.schema_registry[name], settings.backups.workers)
        try:
            live_reg = schemas.collect(reg, workers=settings.backups.workers)
        except BackupError as exc:
            notes.append(f"Schemas of {name} not compared: {exc}")
            continue
        finally:
            reg.close()
        saved_reg = backup.json("schemas", name)
        diffs += schemas.diff(saved_reg, live_reg, with_global=True)
        notes.append(f"Schema Registry {name}: {len(saved_reg['subjects'])} subjects in the backup, "
                     f"{len(live_reg['subjects'])} live.")
    return ordered(diffs), notes


def report(backup: Backup, diffs: list[Difference], notes: list[str]) -> Report:
    missing = [d for d in diffs if d.change == "missing"]
    changed = [d for d in diffs if d.change == "changed"]
    extra = [d for d in diffs if d.change == "extra"]
    reasons: list[str] = []
    if missing:
        by_area = Counter(d.area for d in missing)
        reasons.append("Missing from the clusters: " + ", ".join(f"{n} {a}" for a, n in sorted(by_area.items()))
                       + f" (first: {missing[0].item}).")
    if changed:
        reasons.append(f"{len(changed)} differ from the backup (first: {changed[0].sentence})")
    if extra:
        reasons.append(f"{len(extra)} are new since the backup (first: {extra[0].area} {extra[0].item}).")
    level = Level.CRITICAL if missing else Level.WARNING if changed else Level.OK
    if not reasons and not notes:
        level = Level.WARNING
        reasons.append(f"Backup {backup.id} holds nothing this check compares ({', '.join(backup.manifest.kinds)}): "
                       f"take one with topics, definitions or schemas.")
    if not reasons:
        reasons.append(f"The clusters match backup {backup.id}.")
    rows = [[d.change, d.area, d.item, d.field, d.backup[:60], d.live[:60]] for d in diffs]
    taken = backup.manifest.created_at
    return Report(
        title=f"Recovery check against backup {backup.id}",
        verdict=Verdict(level=level, reasons=reasons),
        tables=[Table(headers=["change", "area", "item", "field", "backup", "live"], rows=rows)] if rows else [],
        notes=[f"Backup {backup.id} taken {taken:%Y-%m-%d %H:%M} UTC by {backup.manifest.created_by}.", *notes],
        taken_at=datetime.now(UTC),
        cli=["kafka-topics --bootstrap-server <broker> --describe",
             "kafka-configs --bootstrap-server <broker> --entity-type topics --describe --all",
             "rabbitmqadmin export definitions.json",
             "curl <schema-registry>/subjects"])
