"""Revoked tokens reach every server process: each closes the sockets it holds for them within a second."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

import momoko

from models.database import UNAVAILABLE, one_line
from models.listener import Listener
from models.relay import APPLICATION_NAME

log = logging.getLogger("webmacs.revocations")

CHANNEL = "webmacs_revoked"  # payload: the revoked token's id (its jti, which grants nothing)


async def announce(db: momoko.Pool, token_id: str) -> None:
    """Tell the other processes (this one has closed its own sockets already)."""
    await db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, token_id))


class RevocationListener:
    """Owns this process's LISTEN for revocations. A token id heard is handed to `close`; after the
    connection was lost, every token that sockets here hold is checked again (what was announced
    meanwhile went unheard)."""

    def __init__(self, url: str, db: momoko.Pool, close: Callable[[str], None],
                 held_token_ids: Callable[[], set[str]]) -> None:
        self._db, self._close, self._held = db, close, held_token_ids
        self._listener = Listener(url, CHANNEL, f"{APPLICATION_NAME}-{os.getpid()}-revocations",
                                  on_notified=self._notified, on_listening_again=self._check_again)
        self._checks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        for check in self._checks:
            check.cancel()
        await self._listener.stop()

    def _notified(self, token_ids: list[str]) -> None:
        for token_id in token_ids:
            self._close(token_id)

    def _check_again(self) -> None:
        check = asyncio.ensure_future(self._check_held())
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def _check_held(self) -> None:
        held = sorted(self._held())
        if not held:
            return
        try:
            cursor = await self._db.execute("SELECT jti FROM revoked_tokens WHERE jti = ANY(%s)", (held,))
        except UNAVAILABLE as error:
            log.warning("could not check held tokens for revocations: %s", one_line(error))
            return
        for (token_id,) in cursor.fetchall():
            self._close(token_id)
