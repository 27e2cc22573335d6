"""SQL for alarms: raised and cleared by the evaluator, acknowledged by people, listed for the API. Every
change of state is told by the database itself (0010_alarms.sql's trigger): to every server process, for
the stream and the evaluators, and to the webhooks, once."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

import momoko

from models import activity
from models.rules import Rule

STATES = ("active", "cleared", "acknowledged", "open")
MAX_COMMENT = 500
_STATE_FILTERS = {
    "active": "a.active",
    "cleared": "NOT a.active",
    "acknowledged": "a.acknowledged_at IS NOT NULL",
    "open": "(a.active OR a.acknowledged_at IS NULL)",  # what still wants someone's attention
}


async def raise_alarm(db: momoko.Pool, rule: Rule, value: float | None, at: str | None) -> bool:
    """Open the rule's alarm, or count one more reading against the one open already (another process may
    have raised it); True if this opened it. Nothing happens if the rule changed since it was evaluated."""
    cursor = await db.execute("""
        INSERT INTO alarms AS a (public_id, rule_id, rule_public_id, rule_name, event_id, severity, condition,
                                 first_value, last_value, last_at)
        SELECT %(public_id)s, r.id, r.public_id, r.name, r.event_id, r.severity, %(condition)s, %(value)s,
               %(value)s, %(at)s
        FROM rules r WHERE r.id = %(rule)s AND r.updated_at::text = %(version)s
        ON CONFLICT (rule_id) WHERE active DO UPDATE SET last_value = coalesce(EXCLUDED.last_value, a.last_value),
            last_at = coalesce(EXCLUDED.last_at, a.last_at),
            -- a reading counts; a silence found by a second process as well does not
            count = a.count + CASE WHEN EXCLUDED.first_value IS NULL THEN 0 ELSE 1 END
        RETURNING xmax = 0""",
        {"public_id": "alm_" + secrets.token_hex(8), "condition": rule.describe(), "value": value, "at": at,
         "rule": rule.id, "version": rule.version})
    row = cursor.fetchone()
    return bool(row and row[0])


async def clear_alarm(db: momoko.Pool, rule: Rule, value: float | None, at: str | None) -> bool:
    """Clear the rule's active alarm: its condition no longer holds. True if there was one."""
    cursor = await db.execute(
        "UPDATE alarms SET active = false, cleared_at = now(), cleared_reason = 'condition no longer holds',"
        " last_value = coalesce(%s, last_value), last_at = coalesce(%s, last_at)"
        " WHERE rule_id = %s AND active", (value, at, rule.id))
    return cursor.rowcount > 0


async def count_repeats(db: momoko.Pool, repeats: dict[int, tuple[float, str | None, int]]) -> None:
    """Readings that met active alarms' conditions: per rule, the last one and how many."""
    rule_ids = list(repeats)
    await db.execute(
        "UPDATE alarms a SET last_value = u.value, last_at = greatest(a.last_at, u.at), count = a.count + u.n"
        " FROM unnest(%s::integer[], %s::float8[], %s::timestamptz[], %s::integer[]) AS u(rule_id, value, at, n)"
        " WHERE a.rule_id = u.rule_id AND a.active",
        (rule_ids, [repeats[r][0] for r in rule_ids], [repeats[r][1] for r in rule_ids],
         [repeats[r][2] for r in rule_ids]))


async def active_rule_ids(db: momoko.Pool) -> set[int]:
    cursor = await db.execute("SELECT rule_id FROM alarms WHERE active AND rule_id IS NOT NULL")
    return {rule_id for (rule_id,) in cursor.fetchall()}


async def silent(db: momoko.Pool, rule_ids: list[int]) -> list[tuple[int, datetime | None]]:
    """Of these no_data rules without an active alarm, those whose event has had no reading for the rule's
    seconds (counted from the rule's last change when it never had one), with its newest reading's time.
    One descent of the (event, time) index per rule."""
    cursor = await db.execute("""
        SELECT r.id, n.newest FROM rules r
        LEFT JOIN LATERAL (SELECT max(d.recorded_at) AS newest FROM datapoints d WHERE d.event_id = r.event_id) n
            ON true
        WHERE r.id = ANY (%s) AND r.condition = 'no_data'
          AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.rule_id = r.id AND a.active)
          AND coalesce(n.newest, r.updated_at) < now() - r.threshold * interval '1 second'""", (rule_ids,))
    return cursor.fetchall()


async def acknowledge(db: momoko.Pool, public_id: str, actor: str, comment: str | None) -> dict[str, Any] | None:
    """Acknowledge the alarm (active or cleared), recorded in the activity log; None if there is no such
    alarm. Raises AlreadyAcknowledged."""
    cursor = await db.execute(f"""
        WITH acked AS (
            UPDATE alarms SET acknowledged_at = now(), acknowledged_by = %(actor)s, ack_comment = %(comment)s
            WHERE public_id = %(subject)s AND acknowledged_at IS NULL RETURNING *
        ), logged AS ({activity.insert_sql("FROM acked")})
        SELECT webmacs_alarm_json(acked) FROM acked
        UNION ALL
        SELECT NULL FROM alarms WHERE public_id = %(subject)s AND NOT EXISTS (SELECT 1 FROM acked)""",
        {"actor": actor, "action": "alarm.acknowledged", "subject": public_id, "comment": comment,
         "details": json.dumps({"comment": comment})})
    row = cursor.fetchone()
    if row is None:
        return None
    if row[0] is None:
        raise AlreadyAcknowledged(f"alarm {public_id} was acknowledged already")
    return row[0]


class AlreadyAcknowledged(ValueError):
    pass


async def get(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute("SELECT webmacs_alarm_json(a) FROM alarms a WHERE a.public_id = %s", (public_id,))
    row = cursor.fetchone()
    return None if row is None else row[0]


async def listed(db: momoko.Pool, state: str | None, event_public_id: str | None, since: datetime | None,
                 before: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, `limit` of them (before alarm number `before`); returns them and the next `before`."""
    clauses: list[str] = []
    params: list[Any] = []
    if state is not None:
        clauses.append(_STATE_FILTERS[state])
    if event_public_id is not None:
        clauses.append("a.event_id = (SELECT id FROM events WHERE public_id = %s)")
        params.append(event_public_id)
    if since is not None:
        clauses.append("a.raised_at >= %s")
        params.append(since)
    if before is not None:
        clauses.append("a.id < %s")
        params.append(before)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    cursor = await db.execute(f"SELECT a.id, webmacs_alarm_json(a) FROM alarms a{where} ORDER BY a.id DESC LIMIT %s",
                              (*params, limit + 1))
    rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return [shown for _, shown in rows], (rows[-1][0] if more and rows else None)
