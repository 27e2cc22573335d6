"""Reading validation details a controller author relies on, and the parser under generated input."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from models.datapoints import public_id_of, row_id_of
from models.readings import SubmissionError, parse_submission
from tests.strategies import (
    ANY_CHARACTER,
    JSON_VALUES,
    NOW,
    READING_FIELDS,
    REPRODUCIBLE,
    SEQS,
    assert_echoable,
    batch_text,
    check_invariants,
    items,
    readings,
)


def test_integers_are_numbers_and_stored_as_floats():
    [reading] = parse_submission('{"event_public_id": "evt_temp01", "value": 23}', NOW).readings
    assert reading.value == 23.0 and isinstance(reading.value, float)


def test_timestamps_become_utc_with_milliseconds_and_z():
    submission = parse_submission(json.dumps({"datapoints": [
        {"event_public_id": "e", "value": 1, "timestamp": "2025-01-15T14:32:10Z"},
        {"event_public_id": "e", "value": 1, "timestamp": "2025-01-15T09:32:10.98765-05:00"},
        {"event_public_id": "e", "value": 1}]}), NOW)
    assert [r.timestamp for r in submission.readings] == [
        "2025-01-15T14:32:10.000Z", "2025-01-15T14:32:10.987Z", "2025-01-15T14:00:00.123Z"]


def test_timestamps_in_other_iso_forms_are_normalised():
    forms = ["2025-01-15 14:32:10.000Z", "2025-W03-3T14:32:10.000Z", "2025-01-15T14:32:10.000+00:00",
             "2025-01-15T14:32:10.0001Z", "20250115T143210.000Z"]
    submission = parse_submission(json.dumps({"datapoints": [
        {"event_public_id": "e", "value": 1, "timestamp": form} for form in forms]}), NOW)
    assert submission.problems == []
    assert {r.timestamp for r in submission.readings} == {"2025-01-15T14:32:10.000Z"}


def test_unknown_fields_are_ignored_for_forward_compatibility():
    submission = parse_submission('{"event_public_id": "e", "value": 1, "quality": "good"}', NOW)
    assert len(submission.readings) == 1 and submission.problems == []


def test_a_public_id_names_its_row_and_nothing_else_does():
    assert [row_id_of(public_id_of(n)) for n in (1, 42, 2**62)] == [1, 42, 2**62]
    for other in ("dp_", "dp_x1", "dp_-1", "dp_Ab3_k9-ZZqR5tY1w", "ev_12", "dp_" + "9" * 19, "dp_" + "1" * 20, "dp_١٢"):
        assert row_id_of(other) is None, other


# Generated input (strategies in tests/strategies.py).

MESSAGES = st.one_of(
    st.text(ANY_CHARACTER),
    st.binary(),
    JSON_VALUES.map(json.dumps),
    st.dictionaries(st.sampled_from(["seq", "datapoints", *READING_FIELDS]), JSON_VALUES).map(json.dumps),
    st.builds(batch_text, st.lists(items(now=NOW), max_size=8), JSON_VALUES, st.booleans()),
    items(now=NOW).map(lambda item: item.text),
)


@settings(REPRODUCIBLE, max_examples=300)
@given(message=MESSAGES)
def test_any_message_parses_or_raises_submission_error_and_what_it_returns_is_storable(message):
    try:
        submission = parse_submission(message, NOW)
    except SubmissionError as error:
        if error.has_seq:
            assert_echoable(error.seq)
        return
    check_invariants(submission)


@settings(REPRODUCIBLE, max_examples=150)
@given(batch=st.lists(items(now=NOW), max_size=12), seq=SEQS)
def test_a_generated_batch_yields_exactly_its_valid_readings_and_names_each_broken_field(batch, seq):
    submission = parse_submission(batch_text(batch, seq), NOW)

    check_invariants(submission)
    assert (submission.batch, submission.has_seq, submission.seq, submission.size) == (True, True, seq, len(batch))
    assert submission.readings == [item.reading(index) for index, item in enumerate(batch) if item.parsed]
    assert [(p["index"], p["field"]) for p in submission.problems] == \
           [(index, item.refused) for index, item in enumerate(batch) if not item.parsed]


@settings(REPRODUCIBLE, max_examples=150)
@given(item=items(now=NOW).filter(lambda item: item.refused != ""), seq=st.none() | SEQS)
def test_a_generated_single_reading_is_read_or_refused_naming_its_broken_field(item, seq):
    text = item.text if seq is None else f'{{"seq": {json.dumps(seq)}, {item.text[1:]}'  # an item has fields

    submission = parse_submission(text, NOW)

    check_invariants(submission)
    assert (submission.batch, submission.has_seq, submission.size) == (False, seq is not None, 1)
    assert submission.readings == ([item.reading(None)] if item.parsed else [])
    assert [p["field"] for p in submission.problems] == ([] if item.parsed else [item.refused])


@settings(REPRODUCIBLE, max_examples=150)
@given(seq=st.one_of(JSON_VALUES, st.text(ANY_CHARACTER)), fields=readings(now=NOW))
def test_a_seq_is_kept_if_it_is_a_number_or_text_of_valid_unicode_and_refused_otherwise(seq, fields):
    number = isinstance(seq, (int, float)) and not isinstance(seq, bool) and math.isfinite(seq)
    unicode_text = isinstance(seq, str) and not any(0xD800 <= ord(c) <= 0xDFFF for c in seq)
    try:
        submission = parse_submission(f'{{"seq": {json.dumps(seq)}, "datapoints": [{fields.text()}]}}', NOW)
    except SubmissionError as error:
        assert not (number or unicode_text) and not error.has_seq
        return
    assert (number or unicode_text) and submission.seq == seq
    assert_echoable(submission.seq)
