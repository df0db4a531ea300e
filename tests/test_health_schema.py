"""Schema verdicts and the Avro record diff are pure: no registry needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from bot.health.schema import (
    SchemaThresholds,
    compatibility_verdict,
    error_verdict,
    recent_registrations,
    registry_verdict,
    subject_verdict,
)
from bot.health.verdict import Level
from bot.probes.schema_registry import (
    CompatibilityResult,
    ErrorKind,
    RegistrySnapshot,
    SchemaChange,
    SubjectSnapshot,
    VersionInfo,
    diff_avro,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ID: dict[str, object] = {"name": "id", "type": "string"}
AMOUNT: dict[str, object] = {"name": "amount", "type": "int"}


def _with(*fields: dict[str, object], name: str = "Order") -> dict[str, object]:
    return {"type": "record", "name": name, "fields": list(fields)}


BASE = _with(ID, AMOUNT)


def _result(compatible: bool, messages: list[str] | None = None, changes: list[SchemaChange] | None = None,
            level: str | None = "BACKWARD") -> CompatibilityResult:
    return CompatibilityResult(registry="local", subject="orders-value", against_version=7, against_id=1042,
                               level=level, is_compatible=compatible, messages=messages or [],
                               changes=changes or [])


def _subject(level: str = "BACKWARD", source: Literal["subject", "global"] = "subject",
             recent: list[VersionInfo] | None = None, changes: list[SchemaChange] | None = None) -> SubjectSnapshot:
    recent = recent if recent is not None else [VersionInfo(version=7, id=1042)]
    return SubjectSnapshot(subject="orders-value", versions=[v.version for v in recent], recent=recent,
                           compatibility=level, compatibility_source=source,
                           latest_changes=changes or [])


# ---------------------------------------------------------------- diff_avro

@pytest.mark.parametrize(("new", "expected"), [
    (_with(ID, AMOUNT, {"name": "note", "type": "string", "default": ""}), [("added", "note", [])]),
    (_with(ID, AMOUNT, {"name": "note", "type": "string"}), [("added", "note", ["BACKWARD"])]),
    (_with(ID), [("removed", "amount", ["FORWARD"])]),
    (_with(ID, {"name": "amount", "type": "long"}), [("type_changed", "amount", ["FORWARD"])]),
    (_with(ID, {"name": "amount", "type": "string"}),
     [("type_changed", "amount", ["BACKWARD", "FORWARD"])]),
    (_with(ID, {"name": "amount", "type": ["null", "int"]}),
     [("type_changed", "amount", ["FORWARD"])]),
    (_with(ID, {"name": "amount", "type": {"type": "int"}}), []),
    (_with(ID, AMOUNT, name="Purchase"), [("record_renamed", "", ["BACKWARD", "FORWARD"])]),
])
def test_diff_avro(new: dict[str, object], expected: list[tuple[str, str, list[str]]]) -> None:
    assert [(c.change, c.field, c.breaks) for c in diff_avro(BASE, new)] == expected


def test_diff_avro_removed_field_with_default_breaks_nothing() -> None:
    old = _with(ID, AMOUNT, {"name": "note", "type": "string", "default": ""})
    [change] = diff_avro(old, BASE)
    assert (change.change, change.has_default, change.breaks) == ("removed", True, [])
    assert change.describe() == "field 'note' (string) removed; it had a default"


def test_diff_avro_names_logical_and_complex_types() -> None:
    old = _with({"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "tags", "type": {"type": "array", "items": "string"}})
    new = _with({"name": "at", "type": "long"}, {"name": "tags", "type": {"type": "array", "items": "int"}})
    changes = {c.field: c for c in diff_avro(old, new)}
    assert (changes["at"].before, changes["at"].after, changes["at"].breaks) == ("long(timestamp-millis)", "long", [])
    assert (changes["tags"].before, changes["tags"].after) == ("array<string>", "array<int>")
    assert changes["tags"].breaks == ["BACKWARD", "FORWARD"]


@pytest.mark.parametrize("other", ['"string"', "not json", {"type": "enum", "name": "E", "symbols": ["A"]}])
def test_diff_avro_ignores_what_is_not_a_record(other: object) -> None:
    assert diff_avro(BASE, other) == [] and diff_avro(other, BASE) == []  # type: ignore[arg-type]


def test_each_change_is_one_sentence() -> None:
    changes = diff_avro(BASE, _with({"name": "id", "type": "string"},
                                    {"name": "note", "type": "string", "default": ""},
                                    {"name": "extra", "type": "int"}))
    assert sorted(c.describe() for c in changes) == [
        "field 'amount' (int) removed; it had no default: breaks FORWARD compatibility",
        "field 'extra' (int) added without a default: breaks BACKWARD compatibility",
        "field 'note' (string) added with a default",
    ]


# ---------------------------------------------------------------- verdicts

def test_compatible_candidate_is_ok() -> None:
    judged = compatibility_verdict(_result(True))
    assert judged.level is Level.OK
    assert judged.reasons == ["The candidate schema is compatible with version 7 (id 1042) of 'orders-value' "
                              "under BACKWARD."]


def test_incompatible_candidate_is_critical_with_the_registry_messages() -> None:
    judged = compatibility_verdict(_result(False, messages=["READER_FIELD_MISSING_DEFAULT_VALUE: currency"]))
    assert judged.level is Level.CRITICAL
    assert "incompatible with version 7 (id 1042) of 'orders-value' under BACKWARD: " \
           "READER_FIELD_MISSING_DEFAULT_VALUE: currency." in judged.reasons[0]


def test_incompatible_candidate_falls_back_to_the_diff() -> None:
    changes = diff_avro(BASE, _with(ID, {"name": "amount", "type": "string"}))
    judged = compatibility_verdict(_result(False, changes=changes, level=None))
    assert judged.level is Level.CRITICAL
    assert "of 'orders-value': field 'amount' changed type from int to string: breaks BACKWARD and FORWARD" \
        in judged.reasons[0]
    assert "(the registry gave no details)" in compatibility_verdict(_result(False)).reasons[0]


def test_subject_with_compatibility_none_warns_with_the_latest_breaking_change() -> None:
    changes = diff_avro(BASE, _with(ID))
    judged = subject_verdict(_subject(level="NONE", changes=changes))
    assert judged.level is Level.WARNING
    assert judged.reasons == [
        "Subject 'orders-value' has compatibility NONE (subject level): any change is accepted; consumers can "
        "break. The latest change: field 'amount' (int) removed; it had no default: breaks FORWARD compatibility."]


def test_subject_ok_names_the_latest_version() -> None:
    judged = subject_verdict(_subject(source="global"), now=NOW)
    assert judged.level is Level.OK
    assert judged.reasons == ["Subject 'orders-value': version 7 registered (id 1042); 1 version; "
                              "compatibility BACKWARD (global)."]


def _versions(*minutes_ago: int | None) -> list[VersionInfo]:
    return [VersionInfo(version=i + 1, id=100 + i,
                        registered_at=None if m is None else NOW - timedelta(minutes=m))
            for i, m in enumerate(minutes_ago)]


def test_high_change_rate_warns_where_times_exist() -> None:
    judged = subject_verdict(_subject(recent=_versions(300, 50, 20, 5)), now=NOW)
    assert judged.level is Level.WARNING
    assert judged.reasons[0] == ("High schema change rate: 3 versions of 'orders-value' registered in the last "
                                 "60 minutes (versions 2, 3, 4); review the recent schema changes.")


def test_change_rate_threshold_and_window_are_tunable() -> None:
    recent = _versions(300, 50, 20, 5)
    assert subject_verdict(_subject(recent=recent), SchemaThresholds(change_rate_versions=4), NOW).level is Level.OK
    wide = SchemaThresholds(change_rate_versions=4, change_rate_window_minutes=360)
    assert subject_verdict(_subject(recent=recent), wide, NOW).level is Level.WARNING


def test_change_rate_is_not_guessed_without_times() -> None:
    recent = _versions(None, None, None, None)  # Confluent: no registration times
    assert recent_registrations(recent, now=NOW) == []
    assert subject_verdict(_subject(recent=recent), now=NOW).level is Level.OK


def test_subject_error_warns() -> None:
    snap = SubjectSnapshot(subject="orders-valeu", error="Subject 'orders-valeu' does not exist; did you mean ...")
    assert subject_verdict(snap).level is Level.WARNING


@pytest.mark.parametrize(("kind", "level"), [
    (ErrorKind.UNREACHABLE, Level.WARNING), (ErrorKind.TIMEOUT, Level.WARNING),
    (ErrorKind.SERVER_ERROR, Level.WARNING), (ErrorKind.AUTH, Level.WARNING),
    (ErrorKind.SUBJECT_NOT_FOUND, Level.WARNING), (ErrorKind.INVALID_SCHEMA, Level.CRITICAL),
    (ErrorKind.INCOMPATIBLE, Level.CRITICAL),
])
def test_error_levels(kind: ErrorKind, level: Level) -> None:
    assert error_verdict(kind, "Something.").level is level


def test_unreachable_registry_says_what_still_works() -> None:
    snap = RegistrySnapshot(registry="local", url="http://sr:8081", taken_at=NOW, reachable=False,
                            error="Schema Registry at http://sr:8081 is unreachable (connection refused); "
                                  "check that it runs and the URL is right.",
                            error_kind=ErrorKind.UNREACHABLE)
    judged = registry_verdict(snap)
    assert judged.level is Level.WARNING
    assert "Running clients keep using cached schemas" in judged.reasons[0]


def test_registry_verdict_combines_global_and_subjects() -> None:
    snap = RegistrySnapshot(registry="local", url="http://sr:8081", taken_at=NOW, reachable=True,
                            global_compatibility="NONE", all_subjects=["orders-value"],
                            subjects=[_subject(recent=_versions(10, 5, 1))])
    judged = registry_verdict(snap)  # "now" defaults to when the snapshot was taken
    assert judged.level is Level.WARNING
    assert any(r.startswith("Schema Registry 'local' has global compatibility NONE") for r in judged.reasons)
    assert any(r.startswith("High schema change rate: 3 versions") for r in judged.reasons)


def test_healthy_registry_is_ok() -> None:
    snap = RegistrySnapshot(registry="local", url="http://sr:8081", taken_at=NOW, reachable=True,
                            global_compatibility="BACKWARD", all_subjects=["a", "b"], subjects=[_subject()])
    judged = registry_verdict(snap)
    assert judged.level is Level.OK
    assert judged.reasons[0] == "Schema Registry 'local' answers: 2 subjects, global compatibility BACKWARD."
