"""Schema Registry subjects and compatibility checks as Reports."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.health.verdict import Verdict
from bot.probes.schema_registry import CompatibilityResult, RegistrySnapshot, SubjectSnapshot
from bot.reports.report import Report, Table
from bot.text import plural


def _cli(url: str, subject: str | None) -> list[str]:
    if subject is None:
        return [f"curl {url}/subjects"]
    return [f"curl {url}/subjects/{subject}/versions", f"curl {url}/config/{subject}?defaultToGlobal=true"]


def subject_report(registry: str, url: str, s: SubjectSnapshot, verdict: Verdict, taken_at: datetime) -> Report:
    tables = []
    if s.recent:
        tables.append(Table(title=f"Latest versions ({len(s.versions)} in all)", headers=["VERSION", "ID", "REGISTERED"],
                            rows=[[str(v.version), str(v.id),
                                   v.registered_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if v.registered_at
                                   else "-"] for v in reversed(s.recent)]))
    notes = []
    if s.compatibility:
        notes.append(f"Compatibility {s.compatibility} (set {'on the subject' if s.compatibility_source == 'subject' else 'globally'}).")
    if s.latest_changes:
        notes.append("Changes in the latest version: " + "; ".join(c.describe() for c in s.latest_changes) + ".")
    if s.latest is not None:
        schema = " ".join(s.latest.schema_text.split())
        notes.append(f"Latest schema ({s.latest.schema_type}, id {s.latest.id}): {schema[:600]}"
                     + ("…" if len(schema) > 600 else ""))
    return Report(title=f"Schema {s.subject} ({registry})", verdict=verdict, tables=tables, notes=notes,
                  taken_at=taken_at, cli=_cli(url, s.subject))


def registry_report(snap: RegistrySnapshot, verdict: Verdict) -> Report:
    notes = []
    if snap.reachable and not snap.error:
        notes.append(f"{plural(len(snap.all_subjects), 'subject')}; global compatibility {snap.global_compatibility}.")
        if snap.all_subjects:
            notes.append("Subjects: " + ", ".join(snap.all_subjects[:60]) + (" …" if len(snap.all_subjects) > 60 else ""))
    return Report(title=f"Schema Registry {snap.registry}", verdict=verdict, notes=notes, taken_at=snap.taken_at,
                  cli=_cli(snap.url, None))


def check_report(url: str, result: CompatibilityResult, verdict: Verdict) -> Report:
    rows = [[c.change, c.field or "-", c.before or "-", c.after or "-", ",".join(c.breaks) or "-"] for c in result.changes]
    tables = [Table(title="Field changes against the latest version", headers=["CHANGE", "FIELD", "BEFORE", "AFTER", "BREAKS"],
                    rows=rows)] if rows else []
    return Report(title=f"Compatibility check: {result.subject} ({result.registry})", verdict=verdict, tables=tables,
                  notes=[f"Checked against version {result.against_version} (id {result.against_id}) under "
                         f"{result.level or 'the registry'}'s rules."],
                  taken_at=datetime.now(timezone.utc),
                  cli=[f"curl -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' "
                       f"--data @candidate.json {url}/compatibility/subjects/{result.subject}/versions/latest?verbose=true"])
