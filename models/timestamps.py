"""The one form timestamps take on the wire: UTC, millisecond precision, a Z suffix (as the spec shows)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def utc_text(column: str) -> str:
    """The SQL expression that gives a timestamptz column in the same form as format_timestamp."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
