"""Accounts: users with a role and a scrypt password hash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
from typing import Any

import momoko
import psycopg2
from psycopg2.extras import Json, RealDictCursor

# scrypt cost, stored with every hash so it can be raised later without breaking old ones.
# 2**15 * 8 * 128 bytes = 32 MiB and about 0.1 s per hash on a 2-core machine.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
# Verified when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = None


# What the users table's CHECK asks of an address (after lowering it), so that a bad one fails here,
# before a password is hashed, and not in an INSERT whose error quotes the row.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\Z")


class DuplicateUser(ValueError):
    pass


class LastAdmin(ValueError):
    """The change would leave nobody who can manage users."""


class WrongPassword(ValueError):
    pass


MIN_PASSWORD = 8  # characters
ONE_TIME_PASSWORD_BYTES = 12  # 16 characters, URL-safe
_COLUMNS = "id, email, role, created_at, must_change_password"
# Keeps at least one admin: the way back for everyone else.
_OTHER_ADMIN = "EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' AND o.id <> users.id)"


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_MAXMEM, dklen=32)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=_MAXMEM, dklen=len(_unb64(digest)))
    return hmac.compare_digest(candidate, _unb64(digest))


async def in_thread(function: Any, *args: Any) -> Any:
    """scrypt takes a tenth of a second; the IOLoop must not wait for it."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def one_time_password() -> str:
    return secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)


async def add_user(db: momoko.Pool, email: str, password: str, role: str,
                   one_time: bool = False) -> dict[str, Any]:
    """A new user; with `one_time`, the password must be changed at the first sign-in."""
    password_hash = await in_thread(hash_password, password)
    try:
        cursor = await db.execute(
            f"INSERT INTO users (email, password_hash, role, must_change_password) VALUES (%s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (email.strip().lower(), password_hash, role, one_time), cursor_factory=RealDictCursor)
    except psycopg2.errors.UniqueViolation:
        raise DuplicateUser(f"a user with email {email.strip().lower()} exists already") from None
    return _public(cursor.fetchone())


async def list_users(db: momoko.Pool) -> list[dict[str, Any]]:
    cursor = await db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY email", cursor_factory=RealDictCursor)
    return [_public(row) for row in cursor.fetchall()]


async def get_user(db: momoko.Pool, user_id: int | None = None, email: str | None = None) -> dict[str, Any] | None:
    cursor = await db.execute(f"SELECT {_COLUMNS} FROM users WHERE id = %s OR email = %s",
                              (user_id, (email or "").strip().lower() or None), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else _public(row)


async def set_role(db: momoko.Pool, user_id: int, role: str) -> dict[str, Any] | None:
    """The user with the new role (their tokens, minted for the old one, stop working); LastAdmin if it
    would leave no admin."""
    cursor = await db.execute(
        f"UPDATE users SET role = %s WHERE id = %s AND (%s = 'admin' OR role <> 'admin' OR {_OTHER_ADMIN})"
        f" RETURNING {_COLUMNS}", (role, user_id, role), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    if row is None and await get_user(db, user_id) is not None:
        raise LastAdmin("the last admin cannot be given another role; make someone else admin first")
    return None if row is None else _public(row)


async def delete_user(db: momoko.Pool, user_id: int) -> dict[str, Any] | None:
    """Delete the user (their readings keep the number); LastAdmin for the last admin."""
    cursor = await db.execute(
        f"DELETE FROM users WHERE id = %s AND (role <> 'admin' OR {_OTHER_ADMIN}) RETURNING {_COLUMNS}",
        (user_id,), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    if row is None and await get_user(db, user_id) is not None:
        raise LastAdmin("the last admin cannot be deleted; make someone else admin first")
    return None if row is None else _public(row)


async def set_password(db: momoko.Pool, user_id: int, password: str, one_time: bool) -> dict[str, Any] | None:
    """A new password (a one-time one must be changed at the next sign-in); the user's sessions end."""
    password_hash = await in_thread(hash_password, password)
    cursor = await db.execute(
        f"UPDATE users SET password_hash = %s, must_change_password = %s, sessions_valid_after = now()"
        f" WHERE id = %s RETURNING {_COLUMNS}", (password_hash, one_time, user_id), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else _public(row)


async def change_own_password(db: momoko.Pool, user_id: int, current: str, new: str) -> dict[str, Any]:
    """The user's own change, which needs the current password; WrongPassword if it is not."""
    cursor = await db.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,))
    row = cursor.fetchone()
    if row is None or not await in_thread(password_matches, current, row[0]):
        raise WrongPassword("the current password is not right")
    changed = await set_password(db, user_id, new, one_time=False)
    assert changed is not None
    return changed


async def preferences(db: momoko.Pool, user_id: int) -> dict[str, Any]:
    cursor = await db.execute("SELECT preferences FROM users WHERE id = %s", (user_id,))
    row = cursor.fetchone()
    return row[0] if row else {}


async def set_preferences(db: momoko.Pool, user_id: int, preferences: dict[str, Any]) -> None:
    await db.execute("UPDATE users SET preferences = %s WHERE id = %s", (Json(preferences), user_id))


async def count_users(db: momoko.Pool) -> int:
    cursor = await db.execute("SELECT count(*) FROM users")
    return cursor.fetchone()[0]


async def authenticate(db: momoko.Pool, email: str, password: str) -> dict[str, Any] | None:
    """The user if the password is right; None otherwise, taking the same time either way."""
    global _DUMMY_HASH
    cursor = await db.execute(f"SELECT {_COLUMNS}, password_hash FROM users WHERE email = %s",
                              (email.strip().lower(),), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    if row is None:
        _DUMMY_HASH = _DUMMY_HASH or await in_thread(hash_password, "not a password")
        await in_thread(password_matches, password, _DUMMY_HASH)
        return None
    if not await in_thread(password_matches, password, row["password_hash"]):
        return None
    return _public(row)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "role": row["role"],
            "created_at": row["created_at"].isoformat(), "must_change_password": row["must_change_password"]}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
