"""Incident roles (commander, comms, scribe) and structured status updates.

Handing a role over is a compare-and-set on the incident's row with its line in the
timeline, so the hand-over of the commander role is part of the record. A status
update says what the conditions are, what is being done and what is needed; people
type it as `conditions: … actions: … needs: …` or as free text (then it is all
conditions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update

from bot import db
from bot.incidents import store
from bot.incidents.model import Event, Incident, Status
from bot.incidents.tables import incident_events, incidents
from bot.reports.markup import escape, user

ROLES = ("commander", "comms", "scribe")
UPDATE_KIND = "status.update"
SECTIONS = ("conditions", "actions", "needs")
_SECTION = re.compile(r"\b(conditions|actions|needs)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class RoleChange:
    incident: Incident
    changed: bool
    message: str


def assign(engine: Engine, incident: Incident, *, role: str, person: str, actor: str, now: float) -> RoleChange:
    """Give `role` to `person`. The commander role of an open incident also
    acknowledges it (a commander is who acknowledged)."""
    if role not in ROLES:
        raise ValueError(role)
    with db.write(engine) as conn:
        fresh = store.get(conn, pk=incident.id)
        assert fresh is not None
        before = getattr(fresh, role)
        if before == person:
            return RoleChange(fresh, False, f"{user(person)} already is the {role} of {fresh.ref}.")
        values: dict[str, Any] = {role: person, "updated_at": now}
        if role == "commander" and fresh.status is Status.OPEN:
            values.update(status=Status.ACKNOWLEDGED.value, acknowledged_at=now)
        column = incidents.c[role]
        where = (incidents.c.id == fresh.id) & (column.is_(None) if before is None else column == before)
        if not conn.execute(update(incidents).where(where).values(**values)).rowcount:
            return RoleChange(fresh, False, f"Someone changed the {role} of {fresh.ref} meanwhile; try again.")
        if values.get("status"):
            store.add_event(conn, incident_id=fresh.id, actor=actor, kind=Status.ACKNOWLEDGED.value, now=now,
                            text=f"Acknowledged: {user(person)} named commander")
        if before:
            text = f"{role.capitalize()} role handed over from {user(before)} to {user(person)} by {user(actor)}"
        else:
            text = f"{user(person)} is the {role} (named by {user(actor)})"
        store.add_event(conn, incident_id=fresh.id, actor=actor, kind=f"role.{role}", text=text, now=now,
                        data={"role": role, "from": before, "to": person})
        after = store.get(conn, pk=fresh.id)
    assert after is not None
    return RoleChange(after, True, f"{text}.")


def parse_update(text: str) -> dict[str, str]:
    """{'conditions': …, 'actions': …, 'needs': …} of the sections given; free text
    without any section name is the conditions."""
    marks = list(_SECTION.finditer(text))
    if not marks:
        return {"conditions": text.strip()}
    found: dict[str, str] = {}
    lead = text[:marks[0].start()].strip()
    if lead:
        found["conditions"] = lead
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        value = text[m.end():end].strip().rstrip(";").strip()
        name = m[1].lower()
        found[name] = f"{found[name]} {value}".strip() if name in found else value
    return {k: v for k, v in found.items() if v}


def render_update(incident: Incident, parts: dict[str, str], author: str) -> str:
    """The update as posted, in the core's light markup."""
    lines = [f":memo: *Status update* on {incident.ref} from {user(author)} "
             f"({incident.severity.value}, {incident.status.value})"]
    for name in SECTIONS:
        if name in parts:
            lines.append(f"*{name.capitalize()}*: {escape(parts[name])}")
    return "\n".join(lines)


def record_update(engine: Engine, incident: Incident, parts: dict[str, str], author: str, now: float) -> None:
    text = "; ".join(f"{k}: {v}" for k, v in parts.items())
    with db.write(engine) as conn:
        store.add_event(conn, incident_id=incident.id, actor=author, kind=UPDATE_KIND, text=f"Status update: {text}",
                        now=now, data=parts)


def last_update_at(engine: Engine, incident_id: int) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(incident_events.c.at).where(
            (incident_events.c.incident_id == incident_id) & (incident_events.c.kind == UPDATE_KIND))
            .order_by(incident_events.c.at.desc()).limit(1)).scalar()


def updates(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == UPDATE_KIND]
