"""Reading validation details a controller author relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from models.datapoints import new_public_ids
from models.readings import parse_submission

NOW = datetime(2025, 1, 15, 14, 0, 0, 123456, tzinfo=UTC)


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


def test_public_ids_are_distinct_url_safe_and_prefixed():
    ids = new_public_ids(1000)
    assert len(set(ids)) == 1000
    assert all(i.startswith("dp_") and len(i) == 19 and i[3:].replace("-", "").replace("_", "").isalnum()
               for i in ids)
