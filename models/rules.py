"""Alarm rules: one event and one condition each (above, below, outside, inside, or no data for a while),
checked, stored, and compiled into what the evaluator asks of every reading."""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models import activity
from models.timestamps import utc_text

CONDITIONS = ("above", "below", "outside", "inside", "no_data")
SEVERITIES = ("info", "warning", "critical")
MAX_NAME = 200
MAX_SECONDS = 30 * 86400.0  # `for` and no_data's seconds
CHANNEL = "webmacs_alarms"  # shared with models/alarms.py: "rules" says the rules changed
INF = math.inf


class RuleError(ValueError):
    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.field = status, field


@dataclass(frozen=True)
class Rule:
    """A rule as the evaluator holds it. `version` is its updated_at: an alarm is raised only for the rule as
    it was evaluated, not for one edited meanwhile."""

    id: int
    public_id: str
    name: str
    event_public_id: str
    condition: str
    threshold: float  # NaN where the condition has none (as low and high)
    low: float
    high: float
    for_seconds: float
    hysteresis: float
    severity: str
    version: str

    def holds(self, value: float) -> bool:
        """Whether a reading meets the condition (never, for no_data: a reading is what it waits for)."""
        condition = self.condition
        if condition == "above":
            return value > self.threshold
        if condition == "below":
            return value < self.threshold
        if condition == "outside":
            return value < self.low or value > self.high
        if condition == "inside":
            return self.low <= value <= self.high
        return False

    def clears(self, value: float) -> bool:
        """Whether a reading ends an active alarm: back past the line by the hysteresis (any reading, for no_data)."""
        band, condition = self.hysteresis, self.condition
        if condition == "above":
            return value <= self.threshold - band
        if condition == "below":
            return value >= self.threshold + band
        if condition == "outside":
            return self.low + band <= value <= self.high - band
        if condition == "inside":
            return value < self.low - band or value > self.high + band
        return True

    def quiet(self, active: bool, last: float | None) -> tuple[float, float]:
        """A closed interval of values that change nothing about this rule in its state (neither meet the
        condition nor clear it); (INF, -INF) when there is none worth telling. The evaluator skips readings
        inside every rule's interval, which is nearly all of them."""
        t, low, high, band, condition = self.threshold, self.low, self.high, self.hysteresis, self.condition
        if condition == "no_data":
            return (INF, -INF) if active else (-INF, INF)
        if not active:
            if condition == "above":
                return -INF, t
            if condition == "below":
                return t, INF
            if condition == "outside":
                return low, high
            # inside: either side of the range; the side the values were last on
            if last is not None and last > high:
                return math.nextafter(high, INF), INF
            return -INF, math.nextafter(low, -INF)
        if condition == "above":
            return math.nextafter(t - band, INF), t
        if condition == "below":
            return t, math.nextafter(t + band, -INF)
        return INF, -INF  # outside and inside: their bands are two intervals

    def meeting(self, last: float | None) -> tuple[float, float]:
        """A closed interval of values that meet the condition: for outside, those on the side `last` was on;
        (INF, -INF) for no_data, which no reading meets."""
        t, low, high, condition = self.threshold, self.low, self.high, self.condition
        if condition == "above":
            return math.nextafter(t, INF), INF
        if condition == "below":
            return -INF, math.nextafter(t, -INF)
        if condition == "inside":
            return low, high
        if condition == "outside" and last is not None:
            return (math.nextafter(high, INF), INF) if last > high else (-INF, math.nextafter(low, -INF))
        return INF, -INF

    def describe(self) -> str:
        return describe(self.condition, self.threshold, self.low, self.high, self.for_seconds)


def describe(condition: str, threshold: float | None, low: float | None, high: float | None,
             for_seconds: float = 0) -> str:
    """How a rule's condition reads, e.g. "above 80 for 10 s", "outside [0, 100]", "no data for 120 s"."""
    if condition == "no_data":
        return f"no data for {threshold:g} s"
    text = f"{condition} {threshold:g}" if condition in ("above", "below") else f"{condition} [{low:g}, {high:g}]"
    return f"{text} for {for_seconds:g} s" if for_seconds else text


_SHAPE = f"""r.public_id AS rule_id, r.name, e.public_id AS event_public_id, r.condition, r.threshold, r.low,
    r.high, r.for_seconds AS "for", r.hysteresis, r.severity, r.created_by, {utc_text("r.created_at")} AS created_at,
    {utc_text("r.updated_at")} AS updated_at"""
_FROM = "rules r JOIN events e ON e.id = r.event_id"


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    rule = dict(row)
    if rule["condition"] == "no_data":
        rule["seconds"] = rule.pop("threshold")
    rule["description"] = describe(rule["condition"], rule.get("threshold", rule.get("seconds")), rule["low"],
                                   rule["high"], rule["for"])
    return rule


def check(body: dict[str, Any]) -> dict[str, Any]:
    """The columns of a rule from an API body (all fields, as for a new rule); RuleError names what is wrong."""
    def number(name: str, required: bool = True, low: float = -INF, high: float = INF) -> float | None:
        value = body.get(name)
        if value is None:
            if required:
                raise RuleError(400, "required", name)
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise RuleError(400, "must be a finite number", name)
        if not low <= value <= high:
            raise RuleError(400, f"must be from {low:,.15g} to {high:,.15g}", name)  # 2,592,000, not 2.592e+06
        return float(value)

    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise RuleError(400, f"1 to {MAX_NAME} characters", "name")
    condition = body.get("condition")
    if condition not in CONDITIONS:
        raise RuleError(400, f"one of {', '.join(CONDITIONS)}", "condition")
    severity = body.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(400, f"one of {', '.join(SEVERITIES)}", "severity")
    columns: dict[str, Any] = {"name": name.strip(), "condition": condition, "severity": severity,
                               "threshold": None, "low": None, "high": None,
                               "for_seconds": number("for", False, 0, MAX_SECONDS) or 0.0,
                               "hysteresis": number("hysteresis", False, 0) or 0.0}
    if condition in ("above", "below"):
        columns["threshold"] = number("threshold")
    elif condition == "no_data":
        columns["threshold"] = number("seconds", True, 0.001, MAX_SECONDS)
    else:
        columns["low"], columns["high"] = number("low"), number("high")
        if columns["low"] > columns["high"]:
            raise RuleError(400, "must not be above high", "low")
    return columns


async def create(db: momoko.Pool, event_public_id: str, columns: dict[str, Any], actor: str) -> dict[str, Any]:
    public_id = "rul_" + secrets.token_hex(8)
    cursor = await db.execute(f"""
        WITH r AS (
            INSERT INTO rules (public_id, event_id, name, condition, threshold, low, high, for_seconds, hysteresis,
                               severity, created_by)
            SELECT %(public_id)s, e.id, %(name)s, %(condition)s, %(threshold)s, %(low)s, %(high)s, %(for_seconds)s,
                   %(hysteresis)s, %(severity)s, %(actor)s
            FROM events e WHERE e.public_id = %(event)s
            RETURNING *
        ), logged AS ({activity.insert_sql("FROM r")})
        SELECT {_SHAPE}, pg_notify(%(channel)s, 'rules') FROM r JOIN events e ON e.id = r.event_id""",
        {**columns, "public_id": public_id, "event": event_public_id, "actor": actor, "action": "rule.created",
         "subject": public_id, "details": json.dumps({"name": columns["name"], "event_public_id": event_public_id}),
         "channel": CHANNEL}, cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    if row is None:
        raise RuleError(404, f"no event {event_public_id}")
    row.pop("pg_notify")
    return _shown(row)


async def get(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"SELECT {_SHAPE} FROM {_FROM} WHERE r.public_id = %s", (public_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else _shown(row)


async def listed(db: momoko.Pool, event_public_id: str | None) -> list[dict[str, Any]]:
    where = " WHERE e.public_id = %s" if event_public_id else ""
    cursor = await db.execute(f"SELECT {_SHAPE} FROM {_FROM}{where} ORDER BY r.id",
                              (event_public_id,) if event_public_id else (), cursor_factory=RealDictCursor)
    return [_shown(row) for row in cursor.fetchall()]


async def update(db: momoko.Pool, public_id: str, columns: dict[str, Any], actor: str) -> dict[str, Any] | None:
    """Replace the rule's condition and settings; its active alarm, raised under the old ones, is cleared."""
    cursor = await db.execute(f"""
        WITH r AS (
            UPDATE rules SET name = %(name)s, condition = %(condition)s, threshold = %(threshold)s, low = %(low)s,
                high = %(high)s, for_seconds = %(for_seconds)s, hysteresis = %(hysteresis)s,
                severity = %(severity)s, updated_at = clock_timestamp()
            WHERE public_id = %(public_id)s RETURNING *
        ), closed AS ({_close_alarm("(SELECT id FROM r)", "rule edited")}),
        logged AS ({activity.insert_sql("FROM r")})
        SELECT {_SHAPE}, pg_notify(%(channel)s, 'rules'), (SELECT count(*) FROM closed) AS closed
        FROM r JOIN events e ON e.id = r.event_id""",
        {**columns, "public_id": public_id, "actor": actor, "action": "rule.updated", "subject": public_id,
         "details": json.dumps({"name": columns["name"]}), "channel": CHANNEL}, cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    if row is None:
        return None
    row.pop("pg_notify")
    row.pop("closed")
    return _shown(row)


async def delete(db: momoko.Pool, public_id: str, actor: str) -> bool:
    """Delete the rule; its active alarm is cleared, and its alarms stay, naming it."""
    cursor = await db.execute(f"""
        WITH closed AS ({_close_alarm("(SELECT id FROM rules WHERE public_id = %(public_id)s)", "rule deleted")}),
        r AS (DELETE FROM rules WHERE public_id = %(public_id)s AND (SELECT count(*) FROM closed) >= 0
              RETURNING public_id, name),
        logged AS ({activity.insert_sql("FROM r", "jsonb_build_object('name', r.name)")})
        SELECT pg_notify(%(channel)s, 'rules') FROM r""",
        {"public_id": public_id, "actor": actor, "action": "rule.deleted", "subject": public_id,
         "channel": CHANNEL})
    return cursor.fetchone() is not None


def _close_alarm(rule_id: str, reason: str) -> str:
    """The UPDATE that clears the rule's active alarm because of `reason`: raised under conditions that
    are no more. (The trigger on alarms tells everyone, as for any clearing.)"""
    return (f"UPDATE alarms SET active = false, cleared_at = now(), cleared_reason = '{reason}'"
            f" WHERE rule_id = {rule_id} AND active RETURNING id")


async def compiled(db: momoko.Pool) -> list[Rule]:
    """Every rule, as the evaluator holds them."""
    cursor = await db.execute(
        "SELECT r.id, r.public_id, r.name, e.public_id, r.condition, r.threshold, r.low, r.high, r.for_seconds,"
        " r.hysteresis, r.severity, r.updated_at::text FROM rules r JOIN events e ON e.id = r.event_id ORDER BY r.id")
    return [Rule(rule_id, public_id, name, event, condition, _number(threshold), _number(low), _number(high),
                 for_seconds, hysteresis, severity, version)
            for (rule_id, public_id, name, event, condition, threshold, low, high, for_seconds, hysteresis, severity,
                 version) in cursor.fetchall()]


def _number(value: float | None) -> float:
    return math.nan if value is None else value
