"""Taking a backup: each kind of each configured cluster read at the same time, written
as one archive, then retention applied. A kind or cluster that cannot be read is
named in the manifest's errors; the others are still written."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from bot.backups import archive, definitions, offsets, schemas, topics
from bot.backups.model import BackupError
from bot.config import Settings
from bot.probes.clients import Clients

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)


def secrets_of(settings: Settings) -> list[str]:
    """Every configured secret long enough not to be an ordinary word, longest first."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            value = node.get_secret_value()
            if len(value) >= 6:
                found.append(value)
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)
    walk(settings)
    return sorted(set(found), key=len, reverse=True)


def _dump(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, default=str) + "\n"


def _schemas(clients: Clients, name: str, w: archive.Writer, only: str | None) -> None:
    settings = clients.settings
    reg = schemas.Registry(name, settings.schema_registry[name], settings.backups.workers)
    try:
        data = schemas.collect(reg, only=only, workers=settings.backups.workers)
    finally:
        reg.close()
    w.add("schemas", name, f"schemas/{name}.json", _dump(data))
    w.count(**schemas.counts(data))


def _offsets(clients: Clients, cluster: str, w: archive.Writer, only: str | None) -> None:
    timeout = clients.settings.kafka[cluster].request_timeout_s
    found = offsets.collect(clients.kafka_admin(cluster), timeout, only=only)
    w.add("offsets", cluster, f"offsets/{cluster}.csv", offsets.to_csv(found))
    w.count(groups=len(found), offsets=sum(len(v) for v in found.values()))


def _topics(clients: Clients, cluster: str, w: archive.Writer, only: str | None) -> None:
    kafka = clients.settings.kafka[cluster]
    data = topics.collect(clients.kafka_admin(cluster), kafka.request_timeout_s, only=only)
    w.add("topics", cluster, f"topics/{cluster}.json", _dump(data))
    w.add("topics", cluster, f"topics/{cluster}.sh", topics.as_commands(data, kafka.bootstrap_servers))
    w.count(topics=len(data["topics"]))


def _definitions(clients: Clients, cluster: str, w: archive.Writer, only: str | None) -> None:
    data = definitions.collect(clients, cluster, keep_hashes=clients.settings.backups.include_password_hashes)
    w.add("definitions", cluster, f"definitions/{cluster}.json", _dump(data))
    for vhost, defs in data["vhosts"].items():
        w.add("definitions", cluster, f"definitions/{cluster}/{vhost.replace('/', '%2F') or 'default'}.json",
              _dump(defs))
    w.count(**definitions.counts(data))


def take(clients: Clients, kinds: list[str], *, created_by: str, only: str | None = None,
         directory: Path | None = None) -> archive.Manifest:
    """Read, write one archive, apply retention. `only` keeps names starting with it
    (topics, groups, subjects; definitions are whole). Raises BackupError only when
    nothing at all could be read."""
    settings = clients.settings
    where = directory or settings.backups.directory
    w = archive.Writer(where, created_by, kinds, secrets_of(settings))
    jobs: list[tuple[str, Callable[[], None]]] = []
    for kind in kinds:
        if kind == "schemas":
            jobs += [(f"schemas of {n}", lambda n=n: _schemas(clients, n, w, only)) for n in settings.schema_registry]
        elif kind == "offsets":
            jobs += [(f"offsets of {c}", lambda c=c: _offsets(clients, c, w, only)) for c in settings.kafka]
        elif kind == "topics":
            jobs += [(f"topics of {c}", lambda c=c: _topics(clients, c, w, only)) for c in settings.kafka]
        elif kind == "definitions":
            jobs += [(f"definitions of {c}", lambda c=c: _definitions(clients, c, w, only)) for c in settings.rabbitmq]
    if not jobs:
        raise BackupError("Nothing to back up: no cluster of those kinds is configured.")

    def run(job: tuple[str, Callable[[], None]]) -> None:
        what, fn = job
        try:
            fn()
        except BackupError as exc:
            w.errors.append(f"{what}: {exc}")
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(run, jobs))
    if not w.files:
        raise BackupError("The backup holds nothing: " + " ".join(w.errors))
    manifest = w.write()
    archive.prune(where, settings.backups.keep, settings.backups.max_age_days)
    return manifest


_running = threading.Lock()


def scheduled(ctx: BotContext) -> None:
    """The timer owner's duty: when the newest backup is older than backups.every_hours,
    take one in a thread of its own (a backup takes seconds; the ladder's tick must not wait)."""
    cfg = ctx.settings.backups
    if not cfg.every_hours:
        return
    newest = archive.listing(cfg.directory)
    if newest and time.time() - newest[0].created_at.timestamp() < cfg.every_hours * 3600:
        return
    if not _running.acquire(blocking=False):
        return

    def work() -> None:
        try:
            manifest = take(ctx.clients, list(cfg.kinds), created_by="schedule")
            log.info("backup %s written (%s)", manifest.id, manifest.counts)
        except Exception:  # noqa: BLE001 - a failed scheduled backup is logged and tried at the next check
            log.exception("scheduled backup failed")
        finally:
            _running.release()
    threading.Thread(target=work, name="backup", daemon=True).start()
