"""A PostgreSQL LISTEN connection kept open: notifications handed on, a lost connection reopened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import psycopg2
import psycopg2.extensions
from tornado.ioloop import IOLoop

from models.database import one_line

# The relay's name: the relay is its only user, and operators (and tests) look for these lines under it.
log = logging.getLogger("webmacs.relay")

RECONNECT_FIRST, RECONNECT_CAP = 0.25, 10.0
CONNECT_TIMEOUT = 10.0


class Listener:
    """LISTENs on one channel over its own asynchronous psycopg2 connection, watched on the IOLoop.

    The payloads of each batch of notifications go to `on_notified`. When the connection is lost it
    reconnects, with backoff and jitter, and then calls `on_listening_again`: whatever was notified
    meanwhile went unheard.
    """

    def __init__(self, url: str, channel: str, application_name: str,
                 on_notified: Callable[[list[str]], None], on_listening_again: Callable[[], None]) -> None:
        self.state = "off"  # "listening", "reconnecting" or "off"
        self._url, self._channel, self._application_name = url, channel, application_name
        self._on_notified, self._on_listening_again = on_notified, on_listening_again
        self._conn: psycopg2.extensions.connection | None = None
        self._fd = -1
        self._lost: asyncio.Future[Exception] | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and LISTEN, raising if that fails; from then on, reconnect whenever it is lost."""
        await self._listen()
        self.state = "listening"
        self._supervisor = asyncio.ensure_future(self._stay_listening())

    async def stop(self) -> None:
        """Stop reconnecting and close the connection."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._close()
        self.state = "off"

    async def _listen(self) -> None:
        conn = psycopg2.connect(self._url, async_=True, application_name=self._application_name,
                                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        try:
            await asyncio.wait_for(_completion(conn), CONNECT_TIMEOUT)
            listen = conn.cursor()  # kept until the statement is done: psycopg2 needs it meanwhile
            listen.execute(f"LISTEN {self._channel}")
            await asyncio.wait_for(_completion(conn), CONNECT_TIMEOUT)
            listen.close()
        except BaseException:
            conn.close()
            raise
        self._conn, self._fd = conn, conn.fileno()
        self._lost = asyncio.get_running_loop().create_future()
        IOLoop.current().add_handler(self._fd, self._on_readable, IOLoop.READ)
        self._on_readable()  # notifications that came with the LISTEN's answer

    def _on_readable(self, fd: int | None = None, events: int = 0) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
        except psycopg2.Error as error:
            self._drop(error)
            return
        payloads = [notification.payload for notification in conn.notifies]
        conn.notifies.clear()
        if payloads:
            self._on_notified(payloads)

    def _drop(self, error: Exception) -> None:
        self._close()
        self.state = "reconnecting"
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(error)

    def _close(self) -> None:
        if self._conn is not None:
            IOLoop.current().remove_handler(self._fd)
            self._conn.close()
            self._conn = None

    async def _stay_listening(self) -> None:
        while True:
            assert self._lost is not None
            error = await self._lost
            log.warning("lost its LISTEN connection (%s); reconnecting", one_line(error))
            delay = RECONNECT_FIRST
            while True:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                try:
                    await self._listen()
                    break
                except Exception as failure:  # whatever it is, keep trying: the owner depends on it
                    delay = min(2 * delay, RECONNECT_CAP)
                    log.warning("cannot listen yet (%s); next try within %.1f s", one_line(failure), delay)
            self.state = "listening"
            self._on_listening_again()


async def _completion(conn: psycopg2.extensions.connection) -> None:
    """Drive an asynchronous psycopg2 operation (connecting, a statement) to its end on the IOLoop."""
    loop = IOLoop.current()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watched: int | None = None

    def unwatch() -> None:
        nonlocal watched
        if watched is not None:
            loop.remove_handler(watched)
            watched = None

    def step(fd: int | None = None, events: int = 0) -> None:
        nonlocal watched
        if done.done():
            return
        try:
            state = conn.poll()
        except Exception as error:
            unwatch()
            done.set_exception(error)
            return
        if state == psycopg2.extensions.POLL_OK:
            unwatch()
            done.set_result(None)
            return
        wanted = IOLoop.READ if state == psycopg2.extensions.POLL_READ else IOLoop.WRITE
        if watched is not None and watched == conn.fileno():
            loop.update_handler(watched, wanted)
        else:  # libpq opens a new socket when it tries the server's next address
            unwatch()
            watched = conn.fileno()
            loop.add_handler(watched, step, wanted)

    step()
    try:
        await done
    finally:
        unwatch()
