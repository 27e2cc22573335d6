"""Named telemetry sessions: what lets the server tell a controller's resend from a new message.

A controller connects with `?session=NAME` and numbers its messages with an integer seq counting up
within that session. Whose session it is comes from the token (a registered controller, a user, or an
unregistered token's subject), so one sender cannot take another's. The ingest statement stores a
message only if its seq is above the session's highest so far (models/datapoints.py); what it was acked
with is kept for the session's last ACKS_KEPT messages, so a resend gets the same ack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import momoko

from models.readings import Reading, Submission

# Acks remembered per session, counted in seq: a controller may keep up to this many messages unacked
# and still have every resend recognised (the reference controller keeps at most 1,000). Bounded so
# that slow controllers, each message a statement and a row, cannot grow the table without end.
ACKS_KEPT = 2_000
UNUSED_DAYS = 7  # a session not used for this long is forgotten, and its name may start over at seq 1
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
NAME_RULE = "session must be 1 to 64 letters, digits or _ . : -"
MAX_SEQ = 2**63 - 1
SEQ_RULE = "in a session, every message needs a seq: a whole number from 1, counting up"


def valid_seq(seq: object) -> bool:
    """In a session, seq is a whole number from 1 (what orders messages and keys their acks)."""
    return isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ


async def open_session(db: momoko.Pool, sender: str, name: str) -> tuple[int, int]:
    """The session's id and its highest stored seq, created at 0 if it is new."""
    cursor = await db.execute(
        "INSERT INTO telemetry_sessions (sender, name) VALUES (%s, %s)"
        " ON CONFLICT (sender, name) DO UPDATE SET used_at = now() RETURNING id, high_seq", (sender, name))
    session_id, high_seq = cursor.fetchone()
    return session_id, high_seq


async def take(conn: momoko.Connection, key: tuple[int, int]) -> bool:
    """Inside a transaction: mark the key's seq stored; False if it was (a resend). The session stays
    locked until the transaction ends."""
    session_id, seq = key
    cursor = await conn.execute(
        "UPDATE telemetry_sessions SET high_seq = greatest(high_seq, %s), used_at = now(),"
        " missing = webmacs_seqs_missing(missing, high_seq, int8multirange(int8range(%s, %s + 1)), %s)"
        " WHERE id = %s AND (high_seq < %s OR missing @> %s::bigint)",
        (seq, seq, seq, ACKS_KEPT, session_id, seq, seq))
    return cursor.rowcount == 1


async def remember(conn: momoko.Connection, key: tuple[int, int], row_ids: Sequence[int]) -> None:
    """Inside the transaction that took the key: keep the ids its message's readings were stored under
    (consecutive), for a resend; as the ingest statement does, forget what is older than ACKS_KEPT."""
    session_id, seq = key
    await conn.execute(
        "INSERT INTO telemetry_acks (session_id, last_seq, seqs, firsts, counts)"
        " VALUES (%s, %s, ARRAY[%s::bigint], ARRAY[%s::bigint], ARRAY[%s::integer]);"
        " DELETE FROM telemetry_acks WHERE session_id = %s AND last_seq <= %s",
        (session_id, seq, seq, min(row_ids, default=None), len(row_ids), session_id, seq - ACKS_KEPT))


async def forget_unused(db: momoko.Pool) -> int:
    """Drop sessions (and their acks) unused for UNUSED_DAYS; returns how many."""
    cursor = await db.execute("DELETE FROM telemetry_sessions WHERE used_at < now() - make_interval(days => %s)",
                              (UNUSED_DAYS,))
    return cursor.rowcount


async def recall(db: momoko.Pool | momoko.Connection,
                 resends: Sequence[Submission]) -> dict[tuple[int, int], list[int | None] | None]:
    """For each resent message (by its resend key): the ids its readings were stored under, in the order
    of its readings (None where one was not), or None if its ack is no longer kept."""
    keys = sorted({key for submission in resends if (key := submission.resend_key) is not None})
    # A seq is in one acks row of its session, at or after it; a session keeps at most ACKS_KEPT rows.
    cursor = await db.execute("""
        SELECT k.session_id, k.seq, m.first_id, m.stored
        FROM unnest(%s::integer[], %s::bigint[]) AS k(session_id, seq)
        JOIN LATERAL (
            SELECT m.first_id, m.stored
            FROM telemetry_acks a, unnest(a.seqs, a.firsts, a.counts) AS m(seq, first_id, stored)
            WHERE a.session_id = k.session_id AND a.last_seq >= k.seq AND k.seq = ANY (a.seqs) AND m.seq = k.seq
        ) m ON true""", ([key[0] for key in keys], [key[1] for key in keys]))
    kept = {(session_id, seq): (first_id, stored) for session_id, seq, first_id, stored in cursor.fetchall()}
    answers: dict[tuple[int, int], list[int | None] | None] = {}
    for submission in resends:
        key = submission.resend_key
        assert key is not None
        first_id, stored = kept.get(key, (None, None))
        if stored is None:
            answers[key] = None
        elif stored == len(submission.readings):
            answers[key] = [first_id + place for place in range(stored)]
        elif stored == 0:
            answers[key] = [None] * len(submission.readings)
        else:  # some of its readings were not stored: which, the stored rows tell
            answers[key] = await _match(db, submission.readings, first_id, stored)
    return answers


async def _match(db: momoko.Pool | momoko.Connection, readings: Sequence[Reading], first_id: int,
                 stored: int) -> list[int | None]:
    """The stored rows first_id.. (`stored` of them) lined up with the readings they came from, in order."""
    cursor = await db.execute(
        "SELECT d.id, e.public_id, d.value FROM datapoints d JOIN events e ON e.id = d.event_id"
        " WHERE d.id BETWEEN %s AND %s ORDER BY d.id", (first_id, first_id + stored - 1))
    rows = cursor.fetchall()
    ids: list[int | None] = []
    for reading in readings:
        if rows and (rows[0][1], rows[0][2]) == (reading.event_public_id, reading.value):
            ids.append(rows.pop(0)[0])
        else:
            ids.append(None)
    return ids
