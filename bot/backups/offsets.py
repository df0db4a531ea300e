"""Every consumer group's committed offsets, in the CSV of Kafka's
``kafka-consumer-groups --reset-offsets --all-groups --all-topics --to-current --export``:
with more than one group each line is ``group,topic,partition,offset``; for one group
it is ``topic,partition,offset`` (what ``--from-file`` reads back). No header; lines
sorted so two exports of the same offsets are the same file."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from bot.backups.model import BackupError, Difference
from bot.probes.clients import op_timeout

TP = tuple[str, int]
Offsets = dict[str, dict[TP, int]]  # group -> (topic, partition) -> committed offset
_BATCH = 200  # requests in flight together: enough to hide round trips, few enough for librdkafka's queue


def _fail(what: str, exc: BaseException) -> BackupError:
    text = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else (str(exc) or type(exc).__name__)
    return BackupError(f"{what} failed: {text}.")


def group_ids(admin: AdminClient, timeout: float, only: str | None = None) -> list[str]:
    try:
        listed = admin.list_consumer_groups(request_timeout=op_timeout(timeout)).result(timeout=timeout + 1)
    except (KafkaException, FutureTimeout) as exc:
        raise _fail("Listing the consumer groups", exc) from None
    return sorted(g.group_id for g in listed.valid if only is None or g.group_id.startswith(only))


def collect(admin: AdminClient, timeout: float, *, only: str | None = None,
            groups: Iterable[str] | None = None) -> Offsets:
    """The committed offsets of every group (or of `groups`); groups without any are left out."""
    names = sorted(groups) if groups is not None else group_ids(admin, timeout, only)
    found: Offsets = {}
    for start in range(0, len(names), _BATCH):
        batch = names[start:start + _BATCH]
        long = op_timeout(timeout)
        futures = {g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=long)[g]
                   for g in batch}
        deadline = time.monotonic() + timeout * 2 + 1
        for group, future in futures.items():
            try:
                answer = future.result(timeout=max(0.1, deadline - time.monotonic()))
            except (KafkaException, FutureTimeout) as exc:
                raise _fail(f"Reading the committed offsets of group {group}", exc) from None
            offsets = {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or []
                       if tp.error is None and tp.offset >= 0}
            if offsets:
                found[group] = offsets
    return found


def group_csv(offsets: dict[TP, int]) -> str:
    """One group, as `--export` writes it and `--from-file` reads it."""
    return "".join(f"{t},{p},{o}\n" for (t, p), o in sorted(offsets.items()))


def to_csv(offsets: Offsets) -> str:
    """Several groups, as `--export` writes them: the group first on each line."""
    return "".join(f"{g},{t},{p},{o}\n" for g in sorted(offsets) for (t, p), o in sorted(offsets[g].items()))


def parse_csv(text: str, group: str | None = None) -> Offsets:
    """Both shapes back: four columns (group,topic,partition,offset), or three for the one `group` given."""
    found: Offsets = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 3 and group is not None:
            cells = [group, *cells]
        if len(cells) != 4:
            raise BackupError(f"Line {n} of the offsets CSV has {len(cells)} columns; "
                              f"expected group,topic,partition,offset.")
        try:
            found.setdefault(cells[0], {})[(cells[1], int(cells[2]))] = int(cells[3])
        except ValueError:
            raise BackupError(f"Line {n} of the offsets CSV has a partition or offset that is not a number.") \
                from None
    return found


def diff(backup: Offsets, live: Offsets, *, extras: bool = False) -> list[Difference]:
    diffs: list[Difference] = []
    for group in sorted(backup):
        have = live.get(group)
        if have is None:
            diffs.append(Difference(area="offsets", item=group, change="missing"))
            continue
        for (t, p), offset in sorted(backup[group].items()):
            if have.get((t, p)) != offset:
                diffs.append(Difference(area="offsets", item=f"{group} {t}[{p}]", change="changed",
                                        field="committed", backup=str(offset), live=str(have.get((t, p), ""))))
    if extras:
        diffs += [Difference(area="offsets", item=g, change="extra") for g in sorted(live) if g not in backup]
    return diffs


def restore(admin: AdminClient, timeout: float, wanted: Offsets, *, rounds: int = 3) -> list[str]:
    """Commit every group's offsets, many requests in flight (groups must have no
    members: Kafka refuses commits from outside an active group). A group that timed
    out (a busy coordinator) is tried again, up to `rounds` times in all. A sentence
    per failure. The approved, per-group path is /restore-offsets; this fills empty groups."""
    pending = sorted(wanted)
    failures: dict[str, str] = {}
    for _ in range(rounds):
        failures = {}
        for start in range(0, len(pending), _BATCH):
            futures = {}
            for g in pending[start:start + _BATCH]:
                request = [ConsumerGroupTopicPartitions(g, [TopicPartition(t, p, o) for (t, p), o in
                                                            sorted(wanted[g].items())])]
                futures[g] = admin.alter_consumer_group_offsets(request, request_timeout=op_timeout(timeout))[g]
            deadline = time.monotonic() + timeout * 2 + 1
            for g, future in futures.items():
                try:
                    future.result(timeout=max(0.1, deadline - time.monotonic()))
                except (KafkaException, FutureTimeout) as exc:
                    failures[g] = str(_fail(f"Committing the offsets of group {g}", exc))
        pending = sorted(failures)
        if not pending:
            break
    return list(failures.values())
