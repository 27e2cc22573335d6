"""The ingest queue: readings from every connection, coalesced into one INSERT at a time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Sequence

import momoko

from models.database import UNAVAILABLE
from models.datapoints import insert_datapoints
from models.readings import Reading

log = logging.getLogger("webmacs.ingest")

Stored = list[dict[str, Any] | None]
# Called once per submission after its statement finished: the stored datapoints aligned with
# the submitted readings (None where the event is unknown), or the error that stored nothing.
Done = Callable[[Stored | None, Exception | None], None]


class IngestQueue:
    """Owns the readings waiting for the database.

    One statement is in flight at a time; whatever arrives meanwhile goes into the next one.
    So under load many small messages become a few large INSERTs instead of a transaction
    each, and datapoints commit in the order they were submitted.
    """

    def __init__(self, db: momoko.Pool, on_committed: Callable[[list[dict[str, Any]]], None],
                 max_rows: int = 5000, announce: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._db = db
        self._on_committed = on_committed
        self._announce = announce  # told of the same datapoints after on_committed: the relay tells other processes
        self._max_rows = max_rows
        self._waiting: list[tuple[Sequence[Reading], Done]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._statement: asyncio.Future[None] | None = None  # the one in flight, until its callbacks ran
        self.committed_rows = 0

    @property
    def waiting_rows(self) -> int:
        return sum(len(readings) for readings, _ in self._waiting)

    def submit(self, readings: Sequence[Reading], done: Done) -> None:
        """Queue readings for the next statement; `done` is called once they are committed or failed."""
        self._waiting.append((readings, done))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def store(self, readings: Sequence[Reading]) -> Stored:
        """Submit and wait: the stored datapoints, or the error that stored nothing."""
        result: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()

        def done(stored: Stored | None, error: Exception | None) -> None:
            if not result.done():
                result.set_exception(error) if error is not None else result.set_result(stored or [])

        self.submit(readings, done)
        return await result

    async def drain(self) -> None:
        """Wait until everything submitted so far has been written (or has failed)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def written(self) -> None:
        """Wait until the statement in flight now, if any, has finished and its callbacks have run
        (not for the statements after it)."""
        if self._statement is not None:
            await asyncio.shield(self._statement)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                self._statement = asyncio.get_running_loop().create_future()
                try:
                    await self._write(self._take())
                finally:
                    self._statement.set_result(None)
                    self._statement = None
        finally:
            self._flushing = None

    def _take(self) -> list[tuple[Sequence[Reading], Done]]:
        rows = 0
        for count, (readings, _) in enumerate(self._waiting):
            rows += len(readings)
            if rows > self._max_rows and count > 0:
                break
        else:
            count = len(self._waiting)
        taken, self._waiting = self._waiting[:count], self._waiting[count:]
        return taken

    async def _write(self, submissions: list[tuple[Sequence[Reading], Done]]) -> None:
        readings = [reading for batch, _ in submissions for reading in batch]
        try:
            stored = await insert_datapoints(self._db, readings)
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                log.warning("could not store %d readings: %s", len(readings), error)
            else:
                log.exception("could not store %d readings", len(readings))
            for _, done in submissions:
                _guarded(done, None, error)
            return
        start = 0
        for batch, done in submissions:
            _guarded(done, stored[start:start + len(batch)], None)
            start += len(batch)
        # Acks first: with a thousand subscribers the broadcast takes milliseconds, and the
        # controllers' acks should not wait for it.
        committed = [datapoint for datapoint in stored if datapoint is not None]
        self.committed_rows += len(committed)
        if committed:
            _guarded(self._on_committed, committed)
            if self._announce is not None:
                _guarded(self._announce, committed)


def _guarded(callback: Callable[..., None], *args: Any) -> None:
    # One connection's failing callback must not cost the others their acks.
    try:
        callback(*args)
    except Exception:
        log.exception("ingest callback failed")
