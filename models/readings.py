"""What a controller may send: one reading or a batch, validated item by item before anything is stored."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

MAX_BATCH = 500
MAX_EVENT_ID_LENGTH = 64
# The same rule as the events table's CHECK: an id outside it cannot name an event.
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,%d}\Z" % MAX_EVENT_ID_LENGTH)
# Controllers' clocks drift; a reading from further ahead than this is a broken clock, not the future.
MAX_CLOCK_AHEAD = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(slots=True)
class Reading:
    event_public_id: str
    value: float
    timestamp: str  # UTC, millisecond precision, "Z" suffix: the form it is stored and echoed in
    index: int | None  # position in its batch; None for a single reading


@dataclass(slots=True)
class Frame:
    """One inbound message: the readings worth storing, and what was wrong with the others."""

    seq: Any = None
    has_seq: bool = False
    batch: bool = False
    readings: list[Reading] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0  # items in the message, valid or not


class FrameError(ValueError):
    """The message as a whole cannot be read; nothing in it is stored."""

    def __init__(self, message: str, seq: Any = None, has_seq: bool = False) -> None:
        super().__init__(message)
        self.seq = seq
        self.has_seq = has_seq


def parse_frame(text: str | bytes, now: datetime | None = None) -> Frame:
    """Validate a controller message; raises FrameError when it cannot be read at all."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("message is not valid JSON") from None
    if not isinstance(message, dict):
        raise FrameError("message must be a JSON object: a reading or {\"datapoints\": [...]}")

    frame = Frame()
    if "seq" in message:
        frame.seq, frame.has_seq = message["seq"], True
        if not _is_seq(frame.seq):
            raise FrameError("seq must be a number or a string")

    now = now or datetime.now(timezone.utc)
    if "datapoints" in message:
        items = message["datapoints"]
        if not isinstance(items, list):
            raise FrameError("datapoints must be a list of readings", frame.seq, frame.has_seq)
        if len(items) > MAX_BATCH:
            raise FrameError(f"a batch holds at most {MAX_BATCH} readings, this one has {len(items)}",
                             frame.seq, frame.has_seq)
        frame.batch = True
        for index, item in enumerate(items):
            _add_item(frame, item, index, now)
    else:
        _add_item(frame, message, None, now)
    return frame


def _add_item(frame: Frame, item: Any, index: int | None, now: datetime) -> None:
    frame.size += 1
    try:
        frame.readings.append(_reading(item, index, now))
    except _Invalid as invalid:
        problem: dict[str, Any] = {"field": invalid.field, "message": str(invalid)}
        if index is not None:
            problem = {"index": index, **problem}
        frame.problems.append(problem)


class _Invalid(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _reading(item: Any, index: int | None, now: datetime) -> Reading:
    if not isinstance(item, dict):
        raise _Invalid("", "a reading must be a JSON object")

    event = item.get("event_public_id")
    if not isinstance(event, str) or not event:
        raise _Invalid("event_public_id", "event_public_id is required and must be a non-empty string")
    if not EVENT_ID.match(event):
        raise _Invalid("event_public_id", f"event_public_id {event[:MAX_EVENT_ID_LENGTH]!r} is not an event id: "
                       f"at most {MAX_EVENT_ID_LENGTH} letters, digits and _ . : -")

    value = item.get("value")
    # bool is an int subclass in Python, but true is not a measurement.
    if type(value) not in (int, float):
        raise _Invalid("value", "value is required and must be a number")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _Invalid("value", "value must be a finite number")

    timestamp = item.get("timestamp")
    if timestamp is None:
        moment = now
    elif isinstance(timestamp, str):
        moment = _parse_timestamp(timestamp, now)
        if _is_canonical(timestamp):
            return Reading(event, value, timestamp, index)  # saves reformatting, the costliest step
    else:
        raise _Invalid("timestamp", "timestamp must be an ISO-8601 string")
    return Reading(event, value, format_timestamp(moment), index)


def _is_canonical(text: str) -> bool:
    """Already in the stored form, YYYY-MM-DDTHH:MM:SS.mmmZ (given that it parsed)."""
    return (len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T"
            and text[4] == "-" and text[7] == "-" and text[13] == ":" and text[16] == ":")


def _parse_timestamp(text: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid("timestamp", f"timestamp {text[:40]!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        raise _Invalid("timestamp", "timestamp needs a UTC offset or a Z suffix")
    if moment < EPOCH:
        raise _Invalid("timestamp", "timestamp is before 1970")
    if moment > now + MAX_CLOCK_AHEAD:
        raise _Invalid("timestamp", "timestamp is more than a day in the future")
    return moment


def format_timestamp(moment: datetime) -> str:
    """UTC with millisecond precision and a Z suffix, as the spec shows."""
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def _is_seq(seq: Any) -> bool:
    if isinstance(seq, bool):
        return False
    if isinstance(seq, float):
        return math.isfinite(seq)
    return isinstance(seq, (int, str))


@dataclass(slots=True)
class Outcome:
    """What became of a frame once its statement ran: positions line up with the frame's items."""

    public_ids: list[str | None]
    problems: list[dict[str, Any]]
    summary: str  # one line for logs and error messages; empty when everything was stored

    @property
    def stored_count(self) -> int:
        return sum(1 for public_id in self.public_ids if public_id)


def outcome(frame: Frame, stored: list[dict[str, Any] | None]) -> Outcome:
    """Combine validation problems with what the database refused (unknown events)."""
    public_ids: list[str | None] = [None] * frame.size
    problems = list(frame.problems)
    for reading, datapoint in zip(frame.readings, stored):
        if datapoint is not None:
            public_ids[reading.index or 0] = datapoint["public_id"]
        else:
            problem = {"field": "event_public_id", "message": f"unknown event {reading.event_public_id!r}"}
            problems.append(problem if reading.index is None else {"index": reading.index, **problem})
    if frame.batch:
        problems.sort(key=lambda problem: problem["index"])
        summary = f"{len(problems)} of {frame.size} readings were not stored" if problems else ""
    else:
        summary = problems[0]["message"] if problems else ""
    return Outcome(public_ids, problems, summary)
