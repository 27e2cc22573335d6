"""`/api/v1/auth/*` and `/api/v1/tokens`: logging in and out, who am I, and minting controller tokens."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import ClassVar

from handlers.base import ApiError, ApiHandler, allow
from handlers.stream import StreamHandler
from handlers.telemetry import TelemetryHandler
from models import tokens, users

USER_TOKEN_TTL = 12 * 3600
MAX_TRACKED_ADDRESSES = 10_000


class LoginThrottle:
    """Failed logins per client address; too many in a window and that address must wait."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, address: str) -> float:
        """Seconds this address must wait, 0 if it may try now."""
        failures = self._failures.get(address)
        if not failures:
            return 0.0
        now = time.monotonic()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return 0.0
        return failures[0] + self.window - now if len(failures) >= self.limit else 0.0

    def failed(self, address: str) -> None:
        if len(self._failures) > MAX_TRACKED_ADDRESSES:
            for stale in list(self._failures):
                self.retry_after(stale)  # forgets addresses whose failures have aged out
        self._failures[address].append(time.monotonic())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class LoginHandler(ApiHandler):
    throttle: ClassVar[LoginThrottle] = LoginThrottle()

    def authentication_required(self) -> bool:
        return False

    async def post(self) -> None:
        address = self.request.remote_ip
        wait = self.throttle.retry_after(address)
        if wait:
            self.set_header("Retry-After", str(int(wait) + 1))
            raise ApiError(429, "too many failed logins; try again later")
        body = self.json_body(required={"email": str, "password": str})
        user = await users.authenticate(self.db, body["email"], body["password"])
        if user is None:
            self.throttle.failed(address)
            raise ApiError(401, "wrong email or password")
        self.throttle.succeeded(address)
        token = tokens.issue_token(self.config.jwt_secret, user["email"], user["role"], USER_TOKEN_TTL)
        self.write_json({"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_TTL,
                         "user": user})


class MeHandler(ApiHandler):
    @allow(*tokens.ROLES)
    async def get(self) -> None:
        principal = self.current_user
        self.write_json({"subject": principal.subject, "role": principal.role,
                         "expires_at": principal.expires_at})


class LogoutHandler(ApiHandler):
    @allow(*tokens.ROLES)
    async def post(self) -> None:
        await users.revoke_token(self.db, self.current_user.token_id, self.current_user.expires_at)
        TelemetryHandler.close_revoked(self.current_user.token_id)
        StreamHandler.close_revoked(self.current_user.token_id)
        self.set_status(204)
        self.finish()


class TokensHandler(ApiHandler):
    @allow("admin")
    async def post(self) -> None:
        body = self.json_body(required={"subject": str}, optional={"role": str, "ttl": (str, int)})
        if not body["subject"].strip():
            raise ApiError(400, "invalid subject", {"subject": "must not be empty"})
        role = body.get("role", "controller")
        if role not in tokens.ROLES:
            raise ApiError(400, "invalid role", {"role": f"one of {', '.join(tokens.ROLES)}"})
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
    (r"/api/v1/tokens", TokensHandler),
]
