"""Named telemetry sessions: what lets the server tell a controller's resend from a new message.

A controller connects with `?session=NAME` and numbers its messages with an integer seq counting up
within that session. Whose session it is comes from the token (a registered controller, a user, or an
unregistered token's subject), so one sender cannot take another's. The ingest statement stores a
message only if its seq is new to the session, and marks it taken (models/datapoints.py). A resend is
answered with the original's ack: its readings' ids are found again from what they hold, so nothing per
message is kept and a session costs ingest one row update per statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import momoko

from models.readings import Submission

# How far below a session's highest seq a message not yet stored (a retry that arrives after later
# messages) is still taken as new; older ones count as resends. The reference controller keeps at most
# 1,000 messages unacked.
SEQS_KEPT = 10_000
UNUSED_DAYS = 7  # a session not used for this long is forgotten, and its name may start over at seq 1
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
NAME_RULE = "session must be 1 to 64 letters, digits or _ . : -"
SEQ_RULE = "in a session, every message needs a seq: a whole number from 1, counting up"
MAX_SEQ = 2**63 - 2  # seq + 1 must still be a bigint, the end of its range


def valid_seq(seq: object) -> bool:
    """In a session, seq is a whole number from 1 (what orders messages and tells resends)."""
    return isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ


def seqs_by_session(keys: Iterable[tuple[int, int] | None]) -> dict[int, str]:
    """Each session's seqs among the keys, as an int8multirange literal: consecutive seqs (the usual case)
    make one range, so the statement gets a few ranges, not a number per message."""
    spans: dict[int, list[list[int]]] = {}
    for key in keys:
        if key is None:
            continue
        session, seq = key
        runs = spans.setdefault(session, [])
        if runs and runs[-1][1] == seq:
            runs[-1][1] = seq + 1
        else:
            runs.append([seq, seq + 1])
    return {session: "{" + ",".join(f"[{low},{high})" for low, high in runs) + "}"
            for session, runs in sorted(spans.items())}


async def open_session(db: momoko.Pool, sender: str, name: str) -> int:
    """The session's id, created if it is new."""
    cursor = await db.execute(
        "INSERT INTO telemetry_sessions (sender, name) VALUES (%s, %s)"
        " ON CONFLICT (sender, name) DO UPDATE SET used_at = now() RETURNING id", (sender, name))
    return cursor.fetchone()[0]


async def take(conn: momoko.Connection, key: tuple[int, int]) -> bool:
    """Inside a transaction: mark the key's seq taken; False if it was (a resend). The session stays
    locked until the transaction ends."""
    session_id, seq = key
    cursor = await conn.execute(
        "UPDATE telemetry_sessions SET high_seq = greatest(high_seq, %(seq)s), used_at = now(),"
        " missing = webmacs_seqs_missing(missing, high_seq, int8multirange(int8range(%(seq)s, %(seq)s + 1)),"
        " %(kept)s) WHERE id = %(id)s AND (high_seq < %(seq)s OR missing @> %(seq)s::bigint)",
        {"seq": seq, "kept": SEQS_KEPT, "id": session_id})
    return cursor.rowcount == 1


async def forget_unused(db: momoko.Pool) -> int:
    """Drop sessions unused for UNUSED_DAYS; returns how many."""
    cursor = await db.execute("DELETE FROM telemetry_sessions WHERE used_at < now() - make_interval(days => %s)",
                              (UNUSED_DAYS,))
    return cursor.rowcount


async def recall(db: momoko.Pool | momoko.Connection, resend: Submission) -> list[int | None]:
    """The ids the resent message's readings were stored under, in the order of its readings (None where
    one was not, or is no longer). Found by what each holds (event, time, value, sender) through the
    (event, time) index: one probe per reading."""
    readings = resend.readings
    cursor = await db.execute("""
        SELECT (SELECT d.id FROM datapoints d
                WHERE d.event_id = e.id AND d.recorded_at = r.recorded_at AND d.value = r.value
                  AND d.source IS NOT DISTINCT FROM %s ORDER BY d.id LIMIT 1)
        FROM unnest(%s::text[], %s::timestamptz[], %s::float8[])
             WITH ORDINALITY AS r(event, recorded_at, value, position)
        LEFT JOIN events e ON e.public_id = r.event
        ORDER BY r.position""",
        (resend.source.column, [r.event_public_id for r in readings], [r.timestamp for r in readings],
         [r.value for r in readings]))
    return [row_id for (row_id,) in cursor.fetchall()]

