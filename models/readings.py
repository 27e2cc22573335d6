"""What a controller may send: one reading or a batch, parsed item by item into a Submission before anything
is stored."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models import public_ids
from models.timestamps import format_timestamp

MAX_BATCH = 500
# Controllers' clocks drift; a reading from further ahead than this is a broken clock, not the future.
MAX_CLOCK_AHEAD = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Reading:
    event_public_id: str
    value: float
    timestamp: str  # UTC, millisecond precision, "Z" suffix: the form it is stored and echoed in
    index: int | None  # position in its batch; None for a single reading


@dataclass(frozen=True, slots=True)
class Source:
    """Who stored a reading: a registered controller, or a signed-in user (both None: nobody known)."""

    controller_id: int | None = None
    user_id: int | None = None
    # As datapoints.source stores it: the controller's id, or minus the user's (0008_controllers.sql).
    column: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        user = -self.user_id if self.user_id is not None else None
        object.__setattr__(self, "column", self.controller_id if self.controller_id is not None else user)


NOBODY = Source()


@dataclass(slots=True)
class Submission:
    """One inbound message, parsed: the readings worth storing, and what was wrong with the others."""

    seq: Any = None
    has_seq: bool = False
    batch: bool = False
    readings: list[Reading] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0  # items in the message, valid or not
    source: Source = NOBODY  # set by the handler, from the token
    session: int | None = None  # the sender's named session (models/sessions.py), if it named one
    out_of_scope: int = 0  # of the problems, readings of events the sender may not write

    @property
    def resend_key(self) -> tuple[int, int] | None:
        """What makes this message once-only: its session and seq (None: not in a session)."""
        return None if self.session is None else (self.session, self.seq)

    def refuse_events(self, allowed: Callable[[str], bool], message: str) -> None:
        """Move readings of events that are not allowed to the problems, item by item."""
        for reading in self.readings:
            if not allowed(reading.event_public_id):
                break
        else:
            return  # the common case: nothing to move
        kept = []
        for reading in self.readings:
            if allowed(reading.event_public_id):
                kept.append(reading)
                continue
            problem: dict[str, Any] = {"field": "event_public_id", "message": message}
            self.problems.append(problem if reading.index is None else {"index": reading.index, **problem})
            self.out_of_scope += 1
        self.readings = kept


class SubmissionError(ValueError):
    """The message as a whole cannot be read; nothing in it is stored."""

    def __init__(self, message: str, seq: Any = None, has_seq: bool = False) -> None:
        super().__init__(message)
        self.seq = seq
        self.has_seq = has_seq


def parse_submission(text: str | bytes, now: datetime | None = None) -> Submission:
    """Validate a controller message; raises SubmissionError when it cannot be read at all."""
    return submission_of(decode(text), now)


def decode(text: str | bytes) -> dict[str, Any]:
    """A controller message as a JSON object; SubmissionError if it is none."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise SubmissionError("message is not valid JSON") from None
    if not isinstance(message, dict):
        raise SubmissionError("message must be a JSON object: a reading or {\"datapoints\": [...]}")
    return message


def submission_of(message: dict[str, Any], now: datetime | None = None) -> Submission:
    """Validate a decoded reading or batch; raises SubmissionError when it cannot be read at all."""
    submission = Submission()
    if "seq" in message:
        submission.seq, submission.has_seq = message["seq"], True
        if not _is_seq(submission.seq):
            raise SubmissionError("seq must be a number or a string of valid Unicode")

    now = now or datetime.now(UTC)
    if "datapoints" in message:
        items = message["datapoints"]
        if not isinstance(items, list):
            raise SubmissionError("datapoints must be a list of readings", submission.seq, submission.has_seq)
        if len(items) > MAX_BATCH:
            raise SubmissionError(f"a batch holds at most {MAX_BATCH} readings, this one has {len(items)}",
                                  submission.seq, submission.has_seq)
        submission.batch = True
        for index, item in enumerate(items):
            _add_item(submission, item, index, now)
    else:
        _add_item(submission, message, None, now)
    return submission


def _add_item(submission: Submission, item: Any, index: int | None, now: datetime) -> None:
    submission.size += 1
    try:
        submission.readings.append(_reading(item, index, now))
    except _Invalid as invalid:
        problem: dict[str, Any] = {"field": invalid.field, "message": str(invalid)}
        if index is not None:
            problem = {"index": index, **problem}
        submission.problems.append(problem)


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
    if not public_ids.PUBLIC_ID.match(event):
        raise _Invalid("event_public_id", f"event_public_id {event[:public_ids.MAX_LENGTH]!r} is not an event id: "
                       + public_ids.RULE)

    number = item.get("value")
    # bool is an int subclass in Python, but true is not a measurement.
    if not isinstance(number, (int, float)) or isinstance(number, bool):
        raise _Invalid("value", "value is required and must be a number")
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _Invalid("value", "value must be a finite number")

    timestamp = item.get("timestamp")
    if timestamp is None:
        moment = now
    elif isinstance(timestamp, str):
        moment = _parse_timestamp(timestamp, now)
        if _CANONICAL.match(timestamp):
            return Reading(event, value, timestamp, index)  # saves reformatting, the costliest step
    else:
        raise _Invalid("timestamp", "timestamp must be an ISO-8601 string")
    return Reading(event, value, format_timestamp(moment), index)


# Already in the stored form, so it may be stored as sent: reformatting is the costliest step.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")


def _parse_timestamp(text: str, now: datetime) -> datetime:
    try:
        # Python's parser stops at a NUL and takes non-ASCII digits; ISO-8601 has neither.
        if not text.isascii() or "\x00" in text:
            raise ValueError(text)
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


def _is_seq(seq: Any) -> bool:
    if isinstance(seq, bool):
        return False
    if isinstance(seq, float):
        return math.isfinite(seq)
    if isinstance(seq, str):
        return _echoable(seq)
    return isinstance(seq, int)


def _echoable(text: str) -> bool:
    """False for a lone surrogate (JSON can escape one, UTF-8 cannot carry it): an ack or error could not
    echo it faithfully."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
