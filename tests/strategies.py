"""Hypothesis strategies for controller messages, shared by the parser's tests (tests/models/test_readings.py)
and the socket and API tests (tests/handlers/test_generated_input.py). Each generated item knows what should
become of it, built from the spec rather than from the parser's code: a valid reading with one field broken
is refused naming that field."""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from models import public_ids
from models.readings import EPOCH, MAX_CLOCK_AHEAD, Reading, Submission

NOW = datetime(2025, 1, 15, 14, 0, 0, 123456, tzinfo=UTC)  # "now" for the parser tests

KNOWN_EVENTS = ("evt_temp01", "evt_press01")  # the events tests/conftest.py gives every server test
READING_FIELDS = ("event_public_id", "value", "timestamp")
MESSAGE_FIELDS = ("seq", "datapoints")
ID_CHARACTERS = string.ascii_letters + string.digits + "_.:-"  # the public id rule, spelled out for the oracle
CANONICAL_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
LATEST = NOW + MAX_CLOCK_AHEAD  # the newest timestamp accepted at NOW (and later, for the socket tests)
# Derandomized: the same examples on every run, so a CI failure is one anybody can rerun and a local pass
# means CI passes too. No example database: a derandomized run replays the same examples anyway. No deadline:
# a slow machine is not a failure (CI's own profile drops it too).
REPRODUCIBLE = settings(derandomize=True, database=None, deadline=None)

# Lone surrogates (JSON escapes them as \ud800, UTF-8 cannot carry them), NUL and JSON's own specials
# are the characters most likely to slip past a check, so they are drawn on purpose.
ANY_CHARACTER = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\x00\n\"\\"))
NOT_ASCII = st.one_of(st.characters(min_codepoint=0x80), st.characters(categories=["Cs"]))
NOT_ID_CHARACTER = st.one_of(ANY_CHARACTER, st.sampled_from(" ,{}'")).filter(lambda c: c not in ID_CHARACTERS)
OTHER_DIGITS = st.characters(categories=["Nd"], min_codepoint=0x80)  # e.g. ٠: str.isdigit, but not ISO-8601
ANY_TEXT = st.text(ANY_CHARACTER, max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
NUMBERS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**300), 10**300))
NOT_NUMBERS = st.one_of(st.none(), st.booleans(), ANY_TEXT, st.lists(NUMBERS, max_size=2),
                        st.dictionaries(ANY_TEXT, NUMBERS, max_size=2))
# As JSON text: Python's json reads NaN and Infinity, and a number too large for a float.
NOT_FINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", str(10**400)])
KNOWN_EVENT_IDS = st.sampled_from(KNOWN_EVENTS)
UNKNOWN_EVENTS = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True).filter(lambda e: e not in KNOWN_EVENTS)


@dataclass(frozen=True)
class Item:
    """One generated batch item: its JSON text, and what should become of it."""

    text: str
    parsed: tuple[str, float, str] | None  # (event, value, timestamp) parse_submission makes of it; None: refused
    refused: str | None  # the field named when it is not stored ("" for a non-object); None: it is stored

    def reading(self, index: int | None) -> Reading:
        assert self.parsed is not None
        event, value, timestamp = self.parsed
        return Reading(event, value, timestamp, index)


@dataclass(frozen=True)
class Fields:
    """A valid reading as raw JSON text per field (so that NaN or an escaped lone surrogate can go in)."""

    raw: dict[str, str]
    expected: tuple[str, float, str]

    def text(self) -> str:
        return "{" + ", ".join(f"{json.dumps(name)}: {raw}" for name, raw in self.raw.items()) + "}"

    def broken(self, field: str, raw: str | None) -> Item:
        """This reading with one field replaced by `raw` (None: left out), which makes it invalid."""
        raw_fields = {name: value for name, value in self.raw.items() if name != field}
        if raw is not None:
            raw_fields[field] = raw
        return Item(Fields(raw_fields, self.expected).text(), None, field)


def canonical(moment: datetime) -> str:
    """The stored form, written out independently of models.timestamps."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, str]:
    """(ISO-8601 text in one of the forms Python and the spec accept, the canonical form it must become)."""
    instant = draw(st.datetimes(min_value=EPOCH.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None),
                                timezones=st.just(UTC)))
    form = draw(st.sampled_from(["canonical", "seconds", "milliseconds", "microseconds", "auto"]))
    if form == "canonical":
        text = canonical(instant)
        return text, text
    if form == "seconds":
        instant = instant.replace(microsecond=0)
    offset = draw(st.one_of(st.just(0), st.integers(-23 * 60, 23 * 60).map(lambda m: m * 60),
                            st.integers(-86399, 86399)))
    local = instant.astimezone(timezone(timedelta(seconds=offset)))
    text = local.isoformat(sep=draw(st.sampled_from("T ")), timespec=form)
    if text.endswith("+00:00") and draw(st.booleans()):
        text = text[:-6] + "Z"
    return text, canonical(instant)


@st.composite
def readings(draw: st.DrawFn, events: st.SearchStrategy[str] = KNOWN_EVENT_IDS, now: datetime | None = None) -> Fields:
    """A valid reading, fields in any order, sometimes with fields the server does not know; with `now`,
    sometimes without a timestamp (it then means `now`)."""
    event, value = draw(events), draw(NUMBERS)
    raw = {"event_public_id": json.dumps(event), "value": json.dumps(value)}
    if now is not None and draw(st.integers(0, 4)) == 0:
        if draw(st.booleans()):
            raw["timestamp"] = "null"
        stamp = canonical(now)
    else:
        text, stamp = draw(timestamps())
        raw["timestamp"] = json.dumps(text)
    extra = draw(st.dictionaries(ANY_TEXT.filter(lambda name: name not in READING_FIELDS + MESSAGE_FIELDS),
                                 JSON_VALUES.map(json.dumps), max_size=2))
    ordered = draw(st.permutations([*raw.items(), *extra.items()]))
    return Fields(dict(ordered), (event, float(value), stamp))


@st.composite
def inserted(draw: st.DrawFn, text: str, characters: st.SearchStrategy[str]) -> str:
    """`text` with a character put in, often where digits start or stop: Python's parser stops early at
    some of those places (after a complete time, after six digits of fraction) and takes what follows."""
    edges = [at for at in range(len(text) + 1) if at in (0, len(text)) or text[at - 1].isdigit() != text[at].isdigit()]
    at = draw(st.one_of(st.sampled_from(edges), st.integers(0, len(text))))
    return text[:at] + draw(characters) + draw(st.sampled_from(["", "Z", "+00:00"])) + text[at:]


@st.composite
def other_digit(draw: st.DrawFn, text: str) -> str:
    at = draw(st.sampled_from([i for i, c in enumerate(text) if c in string.digits]))
    return text[:at] + draw(OTHER_DIGITS) + text[at + 1:]


def _naive(earliest: datetime, latest: datetime) -> st.SearchStrategy[str]:
    return st.datetimes(min_value=earliest, max_value=latest).map(datetime.isoformat)


def _with_offset(earliest: datetime, latest: datetime) -> st.SearchStrategy[str]:
    offsets = st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s)))
    return st.builds(lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
                     st.datetimes(min_value=earliest, max_value=latest), offsets)


VALID_TIMESTAMP_TEXTS = timestamps().map(lambda pair: pair[0])
BROKEN_EVENTS = st.one_of(
    st.none(),
    st.sampled_from(['""', "null"]),
    st.one_of(st.booleans(), NUMBERS, st.lists(st.sampled_from(KNOWN_EVENTS), max_size=2)).map(json.dumps),
    st.text(st.sampled_from(ID_CHARACTERS), min_size=65, max_size=80).map(json.dumps),  # too long
    st.builds(lambda before, bad, after: json.dumps(before + bad + after),
              st.sampled_from(KNOWN_EVENTS + ("",)), NOT_ID_CHARACTER, st.text(st.sampled_from(ID_CHARACTERS),
                                                                               max_size=4)),
)
BROKEN_VALUES = st.one_of(st.none(), NOT_FINITE, NOT_NUMBERS.map(json.dumps))
BROKEN_TIMESTAMPS = st.one_of(
    st.one_of(st.booleans(), NUMBERS, st.lists(VALID_TIMESTAMP_TEXTS, max_size=1),
              st.dictionaries(ANY_TEXT, VALID_TIMESTAMP_TEXTS, max_size=1)).map(json.dumps),
    VALID_TIMESTAMP_TEXTS.flatmap(lambda text: inserted(text, st.one_of(st.just("\x00"), NOT_ASCII))).map(json.dumps),
    # A C string ends at a NUL: whatever follows a complete timestamp and a NUL is easily never looked at.
    st.builds(lambda text, tail: json.dumps(text + "\x00" + tail), VALID_TIMESTAMP_TEXTS, ANY_TEXT),
    VALID_TIMESTAMP_TEXTS.flatmap(other_digit).map(json.dumps),
    _naive(datetime(1970, 1, 2), datetime(2025, 1, 14)).map(json.dumps),  # no offset
    _with_offset(datetime(1, 1, 2), datetime(1969, 12, 30)).map(json.dumps),  # before 1970 in any offset
    _with_offset(datetime(2100, 1, 1), datetime(9999, 12, 30)).map(json.dumps),  # far beyond the clock
    st.sampled_from(["", "now", "yesterday", "2025-01-15", "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
                     "2025-01-15T24:00:00.000Z", "2025-01-15T14:32:60.000Z", "2025-01-15T14:32:10.000+24:00",
                     "2025-01-15T14:32:10.000Z\n", "2025-01-15T14:32:10.000z"]).map(json.dumps),
)
NON_OBJECTS = JSON_VALUES.filter(lambda value: not isinstance(value, dict))


def items(now: datetime | None = None) -> st.SearchStrategy[Item]:
    """Valid readings, readings of events that do not exist, and readings with one field broken."""
    valid = readings(now=now)
    return st.one_of(
        valid.map(lambda fields: Item(fields.text(), fields.expected, None)),
        readings(events=UNKNOWN_EVENTS, now=now).map(lambda f: Item(f.text(), f.expected, "event_public_id")),
        st.builds(lambda fields, raw: fields.broken("event_public_id", raw), valid, BROKEN_EVENTS),
        st.builds(lambda fields, raw: fields.broken("value", raw), valid, BROKEN_VALUES),
        st.builds(lambda fields, raw: fields.broken("timestamp", raw), valid, BROKEN_TIMESTAMPS),
        NON_OBJECTS.map(lambda value: Item(json.dumps(value), None, "")),
    )


SEQS = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text())


def batch_text(batch: list[Item], seq: Any = None, has_seq: bool = True) -> str:
    head = f'"seq": {json.dumps(seq)}, ' if has_seq else ""
    return f'{{{head}"datapoints": [{", ".join(item.text for item in batch)}]}}'


def check_invariants(submission: Submission) -> None:
    """What holds of every parsed message, whatever was in it."""
    assert submission.size == len(submission.readings) + len(submission.problems)
    for reading in submission.readings:
        assert public_ids.PUBLIC_ID.match(reading.event_public_id)
        assert isinstance(reading.value, float) and math.isfinite(reading.value)
        assert CANONICAL_FORM.match(reading.timestamp) and reading.timestamp.isascii()
        assert "\x00" not in reading.timestamp
    indices = [problem.get("index") for problem in submission.problems]
    if submission.batch:
        assert all(isinstance(i, int) and 0 <= i < submission.size for i in indices)
        assert len(set(indices)) == len(indices)
        assert {r.index for r in submission.readings}.isdisjoint(indices)
    else:
        assert submission.size == 1 and all(i is None for i in [*indices, *(r.index for r in submission.readings)])
    if submission.has_seq:
        assert_echoable(submission.seq)


def assert_echoable(seq: Any) -> None:
    """An ack or error frame can carry it: JSON, and UTF-8 as the frame is sent."""
    json.dumps(seq, ensure_ascii=False, allow_nan=False).encode()


