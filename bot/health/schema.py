"""Verdicts on Schema Registry snapshots and compatibility checks.

Levels, and why:
- an incompatible candidate schema is CRITICAL: the operations guide lists schema
  incompatibility as critical, since a producer shipping it breaks its consumers
  (or, with auto-registration, fails to produce at all). An invalid candidate is
  CRITICAL for the same reason: it cannot be registered.
- compatibility NONE (on a subject, or globally) is a WARNING: any change is accepted.
- an unreachable or failing registry is a WARNING, not CRITICAL: serializers cache
  schemas by id, so running producers and consumers keep working; what fails is
  registering new versions and clients that start or meet an unseen schema id. The
  reason says so, so the person can judge it against the incident at hand.
- many versions in a short time ("high schema change rate") is a WARNING, checked
  only where the registry exposes registration times: Confluent's API does not, so
  there the rule is silently not applied (never guessed from version numbers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from bot.health.verdict import Level, Verdict, combine, verdict
from bot.probes.schema_registry import (
    CompatibilityResult,
    ErrorKind,
    RegistrySnapshot,
    SubjectSnapshot,
    VersionInfo,
)
from bot.text import plural


class SchemaThresholds(BaseModel):
    """A subject with change_rate_versions or more versions registered within
    change_rate_window_minutes has a high schema change rate."""

    change_rate_versions: int = Field(3, ge=2)
    change_rate_window_minutes: int = Field(60, ge=1)


def compatibility_verdict(result: CompatibilityResult) -> Verdict:
    """A candidate schema checked against the subject's latest version."""
    against = f"version {result.against_version} (id {result.against_id}) of '{result.subject}'"
    under = f" under {result.level}" if result.level else ""
    if result.is_compatible:
        return verdict([(Level.OK, f"The candidate schema is compatible with {against}{under}.")])
    details = result.messages or [c.describe() for c in result.changes if c.breaks]
    why = ": " + "; ".join(details) if details else " (the registry gave no details)"
    return verdict([(Level.CRITICAL, f"The candidate schema is incompatible with {against}{under}{why}. "
                     "Do not deploy a producer with it; roll back or evolve the schema compatibly.")])


def error_verdict(kind: ErrorKind, message: str) -> Verdict:
    """A question about the registry that ended in an error (message from the probe)."""
    if kind in (ErrorKind.INVALID_SCHEMA, ErrorKind.INCOMPATIBLE):
        return verdict([(Level.CRITICAL, message)])
    if kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR):
        return verdict([(Level.WARNING, f"{message} {_IMPACT}")])
    return verdict([(Level.WARNING, message)])


_IMPACT = ("Running clients keep using cached schemas; new schema versions, new producers and "
           "consumers meeting an unseen schema id fail until it is back.")


def subject_verdict(subject: SubjectSnapshot, thresholds: SchemaThresholds | None = None,
                    now: datetime | None = None) -> Verdict:
    thresholds = thresholds or SchemaThresholds()
    if subject.error:
        return verdict([(Level.WARNING, subject.error)])
    reasons: list[tuple[Level, str]] = []
    name = f"'{subject.subject}'"
    if subject.recent:
        latest = subject.recent[-1]
        reasons.append((Level.OK, f"Subject {name}: {latest.headline}; {plural(len(subject.versions), 'version')}; "
                        f"compatibility {subject.compatibility} ({subject.compatibility_source})."))
    if subject.compatibility == "NONE":
        breaking = [c.describe() for c in subject.latest_changes if c.breaks]
        latest_note = f" The latest change: {'; '.join(breaking)}." if breaking else ""
        reasons.append((Level.WARNING, f"Subject {name} has compatibility NONE ({subject.compatibility_source} "
                        f"level): any change is accepted; consumers can break.{latest_note}"))
    burst = recent_registrations(subject.recent, thresholds, now)
    if len(burst) >= thresholds.change_rate_versions:
        versions = ", ".join(str(v.version) for v in burst)
        reasons.append((Level.WARNING, f"High schema change rate: {plural(len(burst), 'version')} of {name} registered "
                        f"in the last {plural(thresholds.change_rate_window_minutes, 'minute')} (versions {versions}); "
                        "review the recent schema changes."))
    return verdict(reasons)


def recent_registrations(versions: list[VersionInfo], thresholds: SchemaThresholds | None = None,
                         now: datetime | None = None) -> list[VersionInfo]:
    """The versions registered within the window; [] where times are unknown."""
    thresholds = thresholds or SchemaThresholds()
    since = (now or datetime.now(UTC)) - timedelta(minutes=thresholds.change_rate_window_minutes)
    return [v for v in versions if v.registered_at is not None and v.registered_at >= since]


def registry_verdict(snapshot: RegistrySnapshot, thresholds: SchemaThresholds | None = None,
                     now: datetime | None = None) -> Verdict:
    if snapshot.error is not None:
        return error_verdict(snapshot.error_kind or ErrorKind.BAD_RESPONSE, snapshot.error)
    reasons: list[tuple[Level, str]] = []
    if snapshot.global_compatibility == "NONE":
        reasons.append((Level.WARNING, f"Schema Registry '{snapshot.registry}' has global compatibility NONE: "
                        "subjects without their own level accept any change; consumers can break."))
    else:
        reasons.append((Level.OK, f"Schema Registry '{snapshot.registry}' answers: "
                        f"{plural(len(snapshot.all_subjects), 'subject')}, "
                        f"global compatibility {snapshot.global_compatibility}."))
    return combine(verdict(reasons), *(subject_verdict(s, thresholds, now or snapshot.taken_at)
                                       for s in snapshot.subjects))
