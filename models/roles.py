"""Who may do what: the roles a token can carry and the groups of them that endpoints allow."""

from __future__ import annotations

ROLES = ("admin", "operator", "viewer", "controller")
# People sign in with these; controllers get tokens, never accounts (0002_accounts.sql checks the same list).
USER_ROLES = ("admin", "operator", "viewer")
READERS = USER_ROLES  # look at events, experiments and datapoints
EDITORS = ("admin", "operator")  # change events and experiments, delete datapoints
PUBLISHERS = ("admin", "controller")  # send readings over the telemetry socket
DATAPOINT_WRITERS = ("admin", "operator", "controller")  # send readings over HTTP
ADMINS = ("admin",)  # mint tokens
