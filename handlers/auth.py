"""`/api/v1/auth/*`, `/api/v1/tokens` and `/api/v1/stream-ticket`: logging in and out, who am I, minting
controller tokens, and tickets that open the stream."""

from __future__ import annotations

import time
from typing import Any

from handlers.base import ApiError, ApiHandler, allow
from models import tokens, users
from models.roles import ADMINS, ROLES, USER_ROLES

USER_TOKEN_TTL = 12 * 3600
MAX_PREFERENCES = 16 * 1024  # bytes


def session_for(secret: str, user: dict[str, Any]) -> dict[str, Any]:
    """A signed-in user's session: a token standing for their account, as login, renewal and a password
    change answer."""
    token = tokens.issue_token(secret, user["email"], user["role"], USER_TOKEN_TTL, user_id=user["id"])
    return {"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_TTL, "user": user}


class LoginHandler(ApiHandler):
    def authentication_required(self) -> bool:
        return False

    async def post(self) -> None:
        address = str(self.request.remote_ip)
        wait = self.app.login_throttle.retry_after(address)
        if wait:
            self.set_header("Retry-After", str(int(wait) + 1))
            raise ApiError(429, "too many failed logins; try again later")
        body = self.json_body(required={"email": str, "password": str})
        user = await users.authenticate(self.db, body["email"], body["password"])
        if user is None:
            self.app.login_throttle.failed(address)
            self.app.metrics.login_failures.inc()
            raise ApiError(401, "wrong email or password")
        self.app.login_throttle.succeeded(address)
        self.write_json(session_for(self.config.jwt_secret, user))


class MeHandler(ApiHandler):
    @allow(*ROLES)
    async def get(self) -> None:
        principal = self.principal
        # expires_in too: a browser whose clock is off still knows when its session ends.
        self.write_json({"subject": principal.subject, "role": principal.role, "expires_at": principal.expires_at,
                         "expires_in": max(0, principal.expires_at - int(time.time()))})


class RenewHandler(ApiHandler):
    @allow(*USER_ROLES)
    async def post(self) -> None:
        """A fresh token for a signed-in user still active, so a session need not end while it is used;
        the one presented stays valid until it expires (other tabs may hold it)."""
        principal = self.principal
        user = await users.get_user(self.db, principal.user_id) if principal.user_id is not None else None
        if user is None:
            raise ApiError(403, "this token stands for no account; sign in")
        self.write_json(session_for(self.config.jwt_secret, user))


class PreferencesHandler(ApiHandler):
    """What the pages remember for a user (the dashboard's charts, the Datapoints page's time zone), on the
    server, so it follows them to any browser. A JSON object of the pages' making, a key per page."""

    @allow(*USER_ROLES)
    async def get(self) -> None:
        self.write_json(await users.preferences(self.db, self._user_id()))

    @allow(*USER_ROLES)
    async def put(self) -> None:
        if len(self.body()) > MAX_PREFERENCES:
            raise ApiError(413, f"preferences take at most {MAX_PREFERENCES} bytes")
        body = self.json_body(required={})
        await users.set_preferences(self.db, self._user_id(), body)
        self.write_json(body)

    def _user_id(self) -> int:
        if self.principal.user_id is None:
            raise ApiError(403, "this token stands for no account; sign in")
        return self.principal.user_id


class LogoutHandler(ApiHandler):
    @allow(*ROLES)
    async def post(self) -> None:
        await tokens.revoke_token(self.db, self.principal.token_id, self.principal.expires_at)
        await self.app.revoked(self.principal.token_id)
        self.set_status(204)
        self.finish()


class StreamTicketHandler(ApiHandler):
    @allow(*ROLES)
    async def post(self) -> None:
        """A ticket for the stream's URL (`?ticket=`), so that the token itself never travels in one."""
        self.write_json({"ticket": tokens.issue_stream_ticket(self.config.jwt_secret, self.principal),
                         "expires_in": tokens.STREAM_TICKET_TTL}, status=201)


class TokensHandler(ApiHandler):
    @allow(*ADMINS)
    async def post(self) -> None:
        body = self.json_body(required={"subject": str}, optional={"role": str, "ttl": (str, int)})
        if not body["subject"].strip():
            raise ApiError(400, "invalid subject", {"subject": "must not be empty"})
        role = body.get("role", "controller")
        if role not in ROLES:
            raise ApiError(400, "invalid role", {"role": f"one of {', '.join(ROLES)}"})
        try:
            ttl = tokens.parse_ttl(str(body.get("ttl", "30d")))
        except ValueError as error:
            raise ApiError(400, "invalid ttl", {"ttl": str(error)}) from None
        token = tokens.issue_token(self.config.jwt_secret, body["subject"], role, ttl)
        self.write_json({"access_token": token, "token_type": "bearer", "expires_in": ttl,
                         "subject": body["subject"], "role": role}, status=201)


default_handlers = [
    (r"/api/v1/auth/login", LoginHandler),
    (r"/api/v1/auth/me", MeHandler),
    (r"/api/v1/auth/logout", LogoutHandler),
    (r"/api/v1/auth/renew", RenewHandler),
    (r"/api/v1/auth/preferences", PreferencesHandler),
    (r"/api/v1/tokens", TokensHandler),
    (r"/api/v1/stream-ticket", StreamTicketHandler),
]
