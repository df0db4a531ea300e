"""The schema's history, in order. Append; never reorder or edit a step that shipped."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from bot.db import Migration


def _lag_samples(conn: Connection) -> None:
    from bot.evidence.lag_history import lag_samples

    lag_samples.create(conn, checkfirst=True)


def _incidents(conn: Connection) -> None:
    from bot.incidents import tables

    for table in (tables.incidents, tables.incident_events, tables.incident_alerts, tables.alert_dedup,
                  tables.checklist):
        table.create(conn, checkfirst=True)


def _depth_samples(conn: Connection) -> None:
    from bot.evidence.depth_history import depth_samples

    depth_samples.create(conn, checkfirst=True)


def _action_tables(conn: Connection) -> None:
    from bot.actions.replay_store import replays
    from bot.actions.restore_points import restore_points

    restore_points.create(conn, checkfirst=True)
    replays.create(conn, checkfirst=True)


def _escalation(conn: Connection) -> None:
    from bot.escalation.lease import leases
    from bot.incidents.ladder import escalation_steps

    escalation_steps.create(conn, checkfirst=True)
    leases.create(conn, checkfirst=True)


def _approvals(conn: Connection) -> None:
    from bot.approvals.store import audit, requests_table

    requests_table.create(conn, checkfirst=True)
    audit.create(conn, checkfirst=True)


STEPS: list[Migration] = [_lag_samples, _incidents, _depth_samples, _action_tables, _escalation, _approvals]
