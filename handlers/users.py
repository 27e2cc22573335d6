"""`/api/v1/users` (admin) and `/api/v1/auth/password` (everyone, their own): people who sign in."""

from __future__ import annotations

from typing import Any

from handlers.auth import session_for
from handlers.base import ApiError, ApiHandler, allow
from models import users
from models.roles import ADMINS, USER_ROLES


class UsersHandler(ApiHandler):
    @allow(*ADMINS)
    async def get(self) -> None:
        self.write_json({"users": await users.list_users(self.db)})

    @allow(*ADMINS)
    async def post(self) -> None:
        """Add a user with the password given, or a one-time one (shown in the answer only) that must be
        changed at the first sign-in."""
        body = self.json_body(required={"email": str, "role": str}, optional={"password": str})
        email = body["email"].strip().lower()
        if not users.EMAIL.match(email):
            raise ApiError(400, "invalid user", {"email": "an e-mail address"})
        _check_role(body["role"])
        password = body.get("password")
        if password is not None:
            _check_password(password, "password")
        given = password or users.one_time_password()
        try:
            user = await users.add_user(self.db, email, given, body["role"], one_time=password is None)
        except users.DuplicateUser as error:
            raise ApiError(409, str(error)) from None
        await self.record("user.added", email, role=body["role"])
        self.write_json({**user, **({} if password else {"one_time_password": given})}, status=201)


class UserHandler(ApiHandler):
    @allow(*USER_ROLES)
    async def get(self, user_id: str) -> None:
        if self.principal.role != "admin" and self.principal.user_id != int(user_id):
            raise ApiError(403, "only admins see other users")
        self.write_json(_found(await users.get_user(self.db, int(user_id)), user_id))

    @allow(*ADMINS)
    async def put(self, user_id: str) -> None:
        """Change the role (their sessions end), or with {"reset_password": true} give a new one-time
        password (shown in the answer only)."""
        body = self.json_body(required={}, optional={"role": str, "reset_password": bool})
        if "role" not in body and not body.get("reset_password"):
            raise ApiError(400, "nothing to change", {"role": "give a role, or reset_password: true"})
        user = _found(await users.get_user(self.db, int(user_id)), user_id)
        answer: dict[str, Any] = user
        if "role" in body and body["role"] != user["role"]:
            _check_role(body["role"])
            try:
                answer = _found(await users.set_role(self.db, user["id"], body["role"]), user_id)
            except users.LastAdmin as error:
                raise ApiError(409, str(error)) from None
            await self.record("user.role_changed", user["email"], role=body["role"], was=user["role"])
        if body.get("reset_password"):
            password = users.one_time_password()
            answer = {**_found(await users.set_password(self.db, user["id"], password, one_time=True), user_id),
                      "one_time_password": password}
            await self.record("user.password_reset", user["email"])
        await self.app.sessions_ended(user["id"])
        self.write_json(answer)

    @allow(*ADMINS)
    async def delete(self, user_id: str) -> None:
        try:
            deleted = _found(await users.delete_user(self.db, int(user_id)), user_id)
        except users.LastAdmin as error:
            raise ApiError(409, str(error)) from None
        await self.record("user.deleted", deleted["email"])
        await self.app.sessions_ended(deleted["id"])
        self.set_status(204)
        self.finish()


class PasswordHandler(ApiHandler):
    @allow(*USER_ROLES)
    async def post(self) -> None:
        """Change one's own password (the current one is needed); every session of the user ends but
        this one, which gets a new token in the answer."""
        body = self.json_body(required={"current_password": str, "new_password": str})
        principal = self.principal
        if principal.user_id is None:
            raise ApiError(403, "this token stands for no account; sign in to change a password")
        _check_password(body["new_password"], "new_password")
        try:
            user = await users.change_own_password(self.db, principal.user_id, body["current_password"],
                                                   body["new_password"])
        except users.WrongPassword as error:
            raise ApiError(400, "invalid password change", {"current_password": str(error)}) from None
        await self.record("user.password_changed", user["email"])
        await self.app.sessions_ended(user["id"])
        self.write_json(session_for(self.config.jwt_secret, user))


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise ApiError(400, "invalid user", {"role": f"one of {', '.join(USER_ROLES)}"})


def _check_password(password: str, field: str) -> None:
    if len(password) < users.MIN_PASSWORD:
        raise ApiError(400, "invalid password", {field: f"at least {users.MIN_PASSWORD} characters"})


def _found(user: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    if user is None:
        raise ApiError(404, f"no user {user_id}")
    return user


default_handlers = [
    (r"/api/v1/users", UsersHandler),
    (r"/api/v1/users/([0-9]{1,18})", UserHandler),
    (r"/api/v1/auth/password", PasswordHandler),
]
