"""Accounts: users with a role and a scrypt password hash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
from typing import Any

import momoko
import psycopg2
from psycopg2.extras import RealDictCursor

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


async def add_user(db: momoko.Pool, email: str, password: str, role: str) -> dict[str, Any]:
    password_hash = await in_thread(hash_password, password)
    try:
        cursor = await db.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (%s, %s, %s)"
            " RETURNING id, email, role, created_at",
            (email.strip().lower(), password_hash, role), cursor_factory=RealDictCursor)
    except psycopg2.errors.UniqueViolation:
        raise DuplicateUser(f"a user with email {email.strip().lower()} exists already") from None
    return _public(cursor.fetchone())


async def count_users(db: momoko.Pool) -> int:
    cursor = await db.execute("SELECT count(*) FROM users")
    return cursor.fetchone()[0]


async def authenticate(db: momoko.Pool, email: str, password: str) -> dict[str, Any] | None:
    """The user if the password is right; None otherwise, taking the same time either way."""
    global _DUMMY_HASH
    cursor = await db.execute("SELECT id, email, role, created_at, password_hash FROM users WHERE email = %s",
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
            "created_at": row["created_at"].isoformat()}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
