"""Records of `__consumer_offsets` as Kafka writes them, decoded: offset commits of
key versions 0 and 1 with values of every version, tombstones, and the records that
are not offset commits (group metadata, the new coordinator's), which are skipped."""

from __future__ import annotations

import struct

import pytest

from bot.probes.offsets_log import apply, parse_key, parse_offset


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def commit_key(version: int, group: str, topic: str, partition: int) -> bytes:
    return struct.pack(">h", version) + s16(group) + s16(topic) + struct.pack(">i", partition)


def value(version: int, offset: int) -> bytes:
    tail = {0: s16("") + struct.pack(">q", 1), 1: s16("") + struct.pack(">qq", 1, 2),
            2: s16("") + struct.pack(">q", 1), 3: struct.pack(">i", 7) + s16("") + struct.pack(">q", 1),
            4: struct.pack(">i", 7) + b"\x01" + struct.pack(">q", 1) + b"\x00"}[version]
    return struct.pack(">hq", version, offset) + tail


@pytest.mark.parametrize(("key", "expected"), [
    (commit_key(0, "orders", "payments", 3), ("orders", "payments", 3)),
    (commit_key(1, "billing-é", "t.1", 0), ("billing-é", "t.1", 0)),
    (struct.pack(">h", 2) + s16("orders"), None),  # group metadata
    (struct.pack(">h", 3) + s16("orders"), None),  # the new coordinator's group records
    (commit_key(1, "orders", "payments", 3)[:-2], None),  # cut short
    (b"\x00", None),
    (b"", None),
    (None, None),
])
def test_keys(key: bytes | None, expected: tuple[str, str, int] | None) -> None:
    assert parse_key(key) == expected


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_every_value_version_starts_with_the_offset(version: int) -> None:
    assert parse_offset(value(version, 123_456_789_012)) == 123_456_789_012


@pytest.mark.parametrize(("raw", "expected"), [(None, None), (b"\x00\x03\x00", None)])
def test_tombstones_and_short_values_hold_no_offset(raw: bytes | None, expected: None) -> None:
    assert parse_offset(raw) == expected


def test_records_applied_in_order_keep_the_last_commit_and_tombstones_delete() -> None:
    held: dict[str, dict[tuple[str, int], int]] = {}
    records = [
        (commit_key(1, "g", "t", 0), value(3, 10)),
        (commit_key(1, "g", "t", 1), value(3, 20)),
        (commit_key(1, "g", "t", 0), value(3, 15)),  # a later commit wins
        (struct.pack(">h", 2) + s16("g"), b"\x00\x03 anything"),  # metadata: no effect
        (commit_key(1, "h", "t", 0), value(1, 5)),
        (commit_key(1, "g", "t", 1), None),  # offset deleted or expired
        (commit_key(1, "h", "t", 0), None),  # the group's last offset gone: the group goes
        (commit_key(1, "x", "t", 0), None),  # a tombstone for what was never seen
    ]
    for key, raw in records:
        apply(held, key, raw)
    assert held == {"g": {("t", 0): 15}}
