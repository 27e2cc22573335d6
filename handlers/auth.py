"""`/api/v1/auth/*`, `/api/v1/tokens` and `/api/v1/stream-ticket`: logging in and out, who am I, minting
controller tokens, and tickets that open the stream."""

from __future__ import annotations

from handlers.base import ApiError, ApiHandler, allow
from models import tokens, users
from models.roles import ADMINS, ROLES

USER_TOKEN_TTL = 12 * 3600


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
        token = tokens.issue_token(self.config.jwt_secret, user["email"], user["role"], USER_TOKEN_TTL,
                                   user_id=user["id"])
        self.write_json({"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_TTL,
                         "user": user})


class MeHandler(ApiHandler):
    @allow(*ROLES)
    async def get(self) -> None:
        principal = self.principal
        self.write_json({"subject": principal.subject, "role": principal.role,
                         "expires_at": principal.expires_at})


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
    (r"/api/v1/tokens", TokensHandler),
    (r"/api/v1/stream-ticket", StreamTicketHandler),
]
