"""What an event or experiment may be called: the one rule for public ids, and the routes built from it."""

from __future__ import annotations

import re

MAX_LENGTH = 64
_CHARACTERS = "A-Za-z0-9_.:-"
# The same rule as the events table's CHECK: an id outside it cannot name an event.
PUBLIC_ID = re.compile(f"[{_CHARACTERS}]{{1,{MAX_LENGTH}}}\\Z")
RULE = f"at most {MAX_LENGTH} letters, digits and _ . : -"
# Routes accept any length, so that a long id gets "no such event" rather than "no such path".
ROUTE = f"([{_CHARACTERS}]+)"
DATAPOINT_ROUTE = "(dp_[A-Za-z0-9_-]+)"
