"""Signed access tokens (JWT, HS256): issuing them, checking them, and revoking them before they expire."""

from __future__ import annotations

import functools
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import jwt
import momoko

from models.readings import Source, Submission
from models.roles import ROLES
from models.scope import ANY_EVENT, REFUSED, Scope

# Ten years: longer lifetimes only postpone revocation's limits (an expiry PostgreSQL cannot store).
MAX_TTL = 3650 * 86400
ALGORITHM = "HS256"  # pinned: the algorithm is ours to choose, never the token's
# A browser opens the stream with a ticket in the URL, not its token: URLs end up in logs and consoles.
# A ticket lives seconds, opens one socket, and stands for the token that asked for it (whose logout,
# expiry or revocation closes that socket).
STREAM_TICKET_TTL = 30
STREAM_TICKET = "stream"  # its `typ` claim: no token of any other kind is accepted in its place, nor it in theirs
_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class TokenError(ValueError):
    """The token is not acceptable; the message is short enough for a WebSocket close reason."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    token_id: str
    expires_at: int
    user_id: int | None = None  # set on tokens issued at login: the account they stand for
    controller_id: int | None = None  # set on a registered controller's token (models/controllers.py)
    scope: Scope = ANY_EVENT  # the events a controller's token may write
    issued_at: int = 0

    @functools.cached_property
    def source(self) -> Source:
        """What the readings it sends record as their source (made once: every message asks)."""
        return Source(self.controller_id, self.user_id)

    @property
    def sender(self) -> str:
        """Who this is as the owner of telemetry sessions (models/sessions.py)."""
        if self.controller_id is not None:
            return f"controller:{self.controller_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"subject:{self.subject}"

    def claim(self, submission: Submission) -> None:
        """Make the submission this principal's: it records who stored it, and readings of events
        outside the scope are refused item by item (the rest is stored)."""
        submission.source = self.source
        if not self.scope.unlimited:
            submission.refuse_events(self.scope.allows, REFUSED)


def parse_ttl(text: str) -> int:
    """'90s', '15m', '12h', '30d' or plain seconds."""
    match = _TTL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"ttl must look like 3600, 15m, 12h or 30d, got {text!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_TTL:
        raise ValueError(f"ttl must be at most {MAX_TTL // 86400}d")
    return seconds


def new_token_id() -> str:
    return uuid.uuid4().hex


def issue_token(secret: str, subject: str, role: str, ttl_seconds: int, user_id: int | None = None,
                controller_id: int | None = None, token_id: str | None = None, now: int | None = None) -> str:
    """A signed token; with user_id it stands for that account and dies with it (or with a change of role);
    with controller_id it is that registered controller's, and dies when the controller is revoked."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time()) if now is None else now
    claims: dict[str, object] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl_seconds,
                                 "jti": token_id or new_token_id()}
    if user_id is not None:
        claims["uid"] = user_id
    if controller_id is not None:
        claims["cid"] = controller_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str | None, kind: str = "access") -> Principal:
    """The token's principal; raises TokenError saying briefly what is wrong. `kind`: "access" for a
    token, STREAM_TICKET for a stream ticket."""
    claims = _claims(secret, token)
    if claims.get("typ", "access") != kind:
        raise TokenError("a stream ticket opens the stream only" if kind == "access" else "not a stream ticket")
    return _principal(claims)


def _claims(secret: str, token: str | None) -> dict[str, Any]:
    if not token:
        raise TokenError("missing token")
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad token signature") from None
    except jwt.InvalidAlgorithmError:
        raise TokenError("token algorithm not allowed") from None
    except jwt.MissingRequiredClaimError as missing:
        raise TokenError(f"token lacks the {missing.claim} claim") from None
    except jwt.InvalidTokenError:
        raise TokenError("malformed token") from None


def _principal(claims: dict[str, Any]) -> Principal:
    role = claims["role"]
    if role not in ROLES or not isinstance(claims["sub"], str):
        raise TokenError("token has an unknown role")
    user_id, controller_id = claims.get("uid"), claims.get("cid")
    for number in (user_id, controller_id):
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise TokenError("malformed token")
    if controller_id is not None and role != "controller":
        raise TokenError("malformed token")
    issued_at = claims.get("iat", 0)
    return Principal(subject=claims["sub"], role=role, token_id=str(claims.get("jti", "")),
                     issued_at=issued_at if isinstance(issued_at, int) else 0,
                     expires_at=int(claims["exp"]), user_id=user_id, controller_id=controller_id)


async def check_token(db: momoko.Pool, secret: str, token: str | None) -> Principal:
    """The token's principal if it is valid and not revoked; TokenError says why not.
    Raises one of database.UNAVAILABLE when revocation cannot be checked."""
    return await _still_valid(db, verify_token(secret, token))


def issue_stream_ticket(secret: str, principal: Principal, now: int | None = None) -> str:
    """A ticket that opens one stream socket within STREAM_TICKET_TTL seconds, standing for `principal`'s
    token: the socket lives by that token's expiry and revocation."""
    now = int(time.time()) if now is None else now
    claims: dict[str, object] = {"sub": principal.subject, "role": principal.role, "typ": STREAM_TICKET,
                                 "iat": now, "exp": now + STREAM_TICKET_TTL, "jti": new_token_id(),
                                 "par": principal.token_id, "pex": principal.expires_at, "pia": principal.issued_at}
    if principal.user_id is not None:
        claims["uid"] = principal.user_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


async def redeem_stream_ticket(db: momoko.Pool, secret: str, ticket: str) -> Principal:
    """The principal of the token that asked for the ticket, if the ticket is good, unused (it is used
    now) and that token still valid; TokenError says why not."""
    claims = _claims(secret, ticket)
    if claims.get("typ") != STREAM_TICKET or not isinstance(claims.get("par"), str) \
            or not isinstance(claims.get("pex"), int):
        raise TokenError("not a stream ticket")
    cursor = await db.execute("INSERT INTO revoked_tokens (jti, expires_at) VALUES (%s, to_timestamp(%s))"
                              " ON CONFLICT DO NOTHING RETURNING 1", (str(claims.get("jti", "")), claims["exp"]))
    if cursor.fetchone() is None:
        raise TokenError("stream ticket used already")
    if claims["pex"] <= time.time():
        raise TokenError("token expired")
    parent = {**claims, "jti": claims["par"], "exp": claims["pex"], "iat": claims.get("pia", 0)}
    parent.pop("typ")
    return await _still_valid(db, _principal(parent))


async def _still_valid(db: momoko.Pool, principal: Principal) -> Principal:
    # One query of indexed lookups: revoked, (for a login token) the account's role now, and (for a
    # registered controller's) whether this is still its token and what it may write.
    cursor = await db.execute(
        "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = %s), u.role,"
        " coalesce(floor(extract(epoch FROM u.sessions_valid_after)) > %s, false),"
        " c.revoked_at IS NULL AND c.token_id = %s, c.events, c.event_prefix"
        " FROM (SELECT NULL) AS nothing LEFT JOIN users u ON u.id = %s LEFT JOIN controllers c ON c.id = %s",
        (principal.token_id, principal.issued_at, principal.token_id, principal.user_id, principal.controller_id))
    revoked, role_now, ended, controller_current, events, prefix = cursor.fetchone()
    if revoked:
        raise TokenError("token revoked")
    if principal.user_id is not None and role_now is None:
        raise TokenError("the token's user no longer exists")
    if principal.user_id is not None and role_now != principal.role:
        raise TokenError("the token's user has another role now; sign in again")
    if ended:
        raise TokenError("the user's sessions were ended (a new password); sign in again")
    if principal.controller_id is not None:
        if not controller_current:
            raise TokenError("controller revoked")
        return replace(principal, scope=Scope(frozenset(events) if events is not None else None, prefix))
    return principal


async def revoke_token(db: momoko.Pool, token_id: str, expires_at: int) -> None:
    """Refuse this token from now on; rows of tokens that have expired anyway are dropped on the way."""
    await db.execute(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES (%s, to_timestamp(%s)) ON CONFLICT DO NOTHING;"
        " DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 minute'",
        (token_id, expires_at))
