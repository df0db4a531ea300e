"""The backup room's pure parts: the archive (checksums, retention, secrets scrubbed),
Kafka's offsets CSV both ways, definitions without password hashes, the diffs, the
restore command's words, and the schedule."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot import config
from bot.actions.reset_spec import SpecError
from bot.actions.restore_backup import parse
from bot.backups import archive, definitions, offsets, run, schemas, topics
from bot.backups.model import BackupError


def write(directory: Path, created: datetime, text: str = "{}") -> archive.Manifest:
    w = archive.Writer(directory, "U0TEST", ["topics"], ["s3cr3t-token"])
    w.created_at = created
    w.id = archive.new_id(created)
    w.add("topics", "local", "topics/local.json", text)
    return w.write()


def test_archive_round_trip_checksums_and_scrubbed_secrets(tmp_path: Path) -> None:
    m = write(tmp_path, datetime.now(UTC), '{"topics": {"a": {"password": "s3cr3t-token"}}}')
    backup = archive.open_backup(tmp_path, "latest")
    assert backup.id == m.id and backup.json("topics") == {"topics": {"a": {"password": "********"}}}
    assert archive.open_backup(tmp_path, m.id[:15]).id == m.id
    (tmp_path / m.id / "topics/local.json").write_text('{"topics": {}}')
    with pytest.raises(BackupError, match="does not match its checksum"):
        backup.json("topics")
    with pytest.raises(BackupError, match="holds no schemas"):
        backup.json("schemas")
    with pytest.raises(BackupError, match="There is no backup nope"):
        archive.open_backup(tmp_path, "nope")


@pytest.mark.parametrize("keep, max_age_days, ages_days, kept", [
    (3, None, [0, 1, 2, 3, 4], [0, 1, 2]),
    (10, 2.5, [0, 1, 2, 3, 4], [0, 1, 2]),
    (2, 2.5, [0, 1, 2, 3], [0, 1]),
    (5, 1.0, [10, 20], [10]),  # the newest is never deleted for its age
], ids=["keep-n", "max-age", "both", "newest-survives"])
def test_retention(tmp_path: Path, keep: int, max_age_days: float | None, ages_days: list[int],
                   kept: list[int]) -> None:
    now = datetime.now(UTC)
    made = {age: write(tmp_path, now - timedelta(days=age, seconds=1)).id for age in ages_days}
    partial = tmp_path / ".partial-old"
    partial.mkdir()
    deleted = archive.prune(tmp_path, keep, max_age_days, now=time.time() + 7200)
    assert sorted(deleted) == sorted(made[a] for a in ages_days if a not in kept)
    assert [m.id for m in archive.listing(tmp_path)] == [made[a] for a in kept]
    assert not partial.exists()


@pytest.mark.parametrize("text, group, expected", [
    ("g1,orders,0,5\ng1,orders,1,7\ng2,audit,0,0\n", None, {"g1": {("orders", 0): 5, ("orders", 1): 7},
                                                            "g2": {("audit", 0): 0}}),
    ("orders,0,5\norders,1,7\n", "g1", {"g1": {("orders", 0): 5, ("orders", 1): 7}}),
    ("\n", None, {}),
])
def test_offsets_csv_both_ways(text: str, group: str | None, expected: offsets.Offsets) -> None:
    parsed = offsets.parse_csv(text, group)
    assert parsed == expected
    if group is None and expected:
        assert offsets.to_csv(parsed) == text
    if group:
        assert offsets.group_csv(parsed[group]) == text


@pytest.mark.parametrize("text, message", [("g,t,0\n", "has 3 columns"), ("g,t,x,1\n", "not a number")])
def test_offsets_csv_errors(text: str, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        offsets.parse_csv(text)


def test_definitions_lose_password_hashes_and_uri_passwords() -> None:
    defs = {"users": [{"name": "ops", "password_hash": "abc", "tags": ["administrator"]}],
            "parameters": [{"component": "shovel", "value": {"src-uri": "amqp://ops:hunter2@host/vh"}}]}
    clean = definitions.sanitise(defs)
    assert clean["users"] == [{"name": "ops", "tags": ["administrator"]}]
    assert clean["parameters"][0]["value"]["src-uri"] == "amqp://ops:********@host/vh"
    assert definitions.sanitise(defs, keep_hashes=True)["users"][0]["password_hash"] == "abc"


def test_secrets_of_the_configuration() -> None:
    settings = config.load(slack={"bot_token": "xoxb-very-secret", "signing_secret": "abcdef0123456789abcdef0123456789"})
    found = run.secrets_of(settings)
    assert "xoxb-very-secret" in found and "abcdef0123456789abcdef0123456789" in found and "guest" not in found


def _topics(**spec: Any) -> dict[str, Any]:
    return {"topics": {name: {"partitions": 3, "replication_factor": 1, "configs": {}, **s} for name, s in spec.items()}}


def test_topic_diff_and_commands() -> None:
    backup = _topics(a={"configs": {"retention.ms": "1000"}}, b={}, c={})
    live = _topics(a={"configs": {"retention.ms": "2000"}}, b={"partitions": 6}, d={})
    found = [(d.change, d.area, d.item, d.field, d.backup, d.live) for d in topics.diff(backup, live)]
    assert found == [("missing", "topic", "c", "", "", ""), ("extra", "topic", "d", "", "", ""),
                     ("changed", "topic", "b", "partitions", "3", "6"),
                     ("changed", "config", "a retention.ms", "value", "1000", "2000")]
    assert "kafka-topics --bootstrap-server k:9092 --create --topic a --partitions 3 --replication-factor 1 " \
           "--config retention.ms=1000" in topics.as_commands(backup, "k:9092")


def test_schema_diff_by_version_and_renaming() -> None:
    v = {"version": 1, "id": 7, "schemaType": "AVRO", "schema": '{"type": "string"}', "references": []}
    ref = {**v, "references": [{"name": "A", "subject": "a", "version": 1}]}
    backup = {"global_compatibility": "BACKWARD", "subjects": {
        "a": {"compatibility": "FULL", "versions": [v, {**v, "version": 2, "schema": '"int"'}]},
        "b": {"compatibility": None, "versions": [ref]}}}
    live = {"global_compatibility": "NONE", "subjects": {
        "a": {"compatibility": "NONE", "versions": [{**v, "id": 99, "schema": '{"type":"string"}'}]}}}
    found = [(d.change, d.area, d.item) for d in schemas.diff(backup, live, with_global=True)]
    assert found == [("changed", "compatibility", "(global)"), ("changed", "compatibility", "a"),
                     ("missing", "version", "a v2"), ("missing", "subject", "b")]
    moved = schemas.renamed(backup, "r-")
    assert moved["subjects"]["r-b"]["versions"][0]["references"][0]["subject"] == "r-a"
    gap = {"subjects": {"a": {"compatibility": None, "versions": [v, {**v, "version": 3}]}}}
    assert [x["version"] for x in schemas.renumbered(gap)["subjects"]["a"]["versions"]] == [1, 2]


def test_definition_diff_keys_bindings_by_everything_that_makes_them() -> None:
    one = {"queues": [{"name": "q", "durable": True, "arguments": {}}],
           "bindings": [{"source": "ex", "destination": "q", "destination_type": "queue", "routing_key": "a.*",
                         "arguments": {}}]}
    other = {"queues": [{"name": "q", "durable": False, "arguments": {}}], "bindings": []}
    found = [(d.change, d.area, d.item, d.field) for d in definitions.diff_vhost(one, other, "v")]
    assert found == [("missing", "binding", "v/ex -> queue q key='a.*' args={}", ""),
                     ("changed", "queue", "v/q", "durable")]


@pytest.mark.parametrize("words, expected", [
    ("topics 2026 --prefix r- --only orders", {"what": "topics", "backup": "2026", "prefix": "r-", "only": "orders"}),
    ("schemas latest --registry=sr", {"what": "schemas", "backup": "latest"}),
    ("definitions 2026 --vhost / --into restored", {"what": "definitions", "vhost": "/", "into": "restored"}),
])
def test_restore_words(words: str, expected: dict[str, str]) -> None:
    target, _ = parse(words, "local")
    assert {k: getattr(target, k) for k in expected} == expected


@pytest.mark.parametrize("words, message", [
    ("everything 2026", "Say what to restore"), ("topics", "Say what to restore"),
    ("topics 2026 --vhost v", "--vhost and --into are for definitions"),
    ("definitions 2026 --prefix p", "a vhost at a time"), ("topics 2026 --bogus 1", "Unknown option"),
    ("topics 2026 --prefix", "needs a value"),
])
def test_restore_words_refused(words: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse(words, "local")


def test_schedule_takes_a_backup_only_when_the_newest_is_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    monkeypatch.setattr(run, "take", lambda clients, kinds, created_by: taken.append(created_by))
    settings = config.load(backups={"directory": str(tmp_path), "every_hours": 1})
    ctx = SimpleNamespace(settings=settings, clients=None)

    def tick() -> None:
        run.scheduled(ctx)  # type: ignore[arg-type]
        with run._running:  # the thread has finished
            pass
    tick()
    assert taken == ["schedule"]
    write(tmp_path, datetime.now(UTC) - timedelta(minutes=30))
    tick()
    assert taken == ["schedule"]  # the newest is half an hour old
    for manifest in archive.listing(tmp_path):
        shutil.rmtree(tmp_path / manifest.id)
    write(tmp_path, datetime.now(UTC) - timedelta(hours=2))
    tick()
    assert taken == ["schedule", "schedule"]
    off = SimpleNamespace(settings=config.load(backups={"directory": str(tmp_path)}), clients=None)
    run.scheduled(off)  # type: ignore[arg-type]
    assert len(taken) == 2  # every_hours 0: no schedule
