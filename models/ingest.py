"""The ingest queue: submissions from every connection, coalesced into one INSERT at a time, each answered
with a receipt."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import momoko

from models import sessions
from models.database import UNAVAILABLE, first_line, savepoint, transaction
from models.datapoints import Batch, Stored, insert_datapoints, public_id_of
from models.metrics import Metrics
from models.readings import Submission

log = logging.getLogger("webmacs.ingest")


@dataclass(slots=True)
class Receipt:
    """What became of one submission: positions in `public_ids` line up with the message's items."""

    submission: Submission
    datapoints: list[dict[str, Any]]  # what was stored, in the stream's shape
    public_ids: list[str | None]  # per item: the stored datapoint's id, or None
    problems: list[dict[str, Any]]  # per refused item: its index (in a batch), field and why
    summary: str  # one line for logs and error messages; empty when everything was stored
    retry: bool = False  # nothing was stored because the database is unavailable: send it again
    refused_by_database: int = 0  # of the problems, readings PostgreSQL itself refused
    resent: bool = False  # the message was stored before: answered as then, nothing stored now

    @property
    def stored_count(self) -> int:
        return len(self.datapoints)


# Called once per submission, when its statement has finished.
Done = Callable[[Receipt], None]


class IngestQueue:
    """Owns the readings waiting for the database.

    One statement is in flight at a time; whatever arrives meanwhile goes into the next one.
    So under load many small messages become a few large INSERTs instead of a transaction
    each, and datapoints commit in the order they were submitted.
    """

    def __init__(self, db: momoko.Pool, on_committed: Callable[[list[dict[str, Any]]], None],
                 max_rows: int = 5000, announce: Callable[[list[dict[str, Any]]], None] | None = None,
                 metrics: Metrics | None = None) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._tally: Counter[str] = Counter()  # what became of readings, counted into metrics per statement
        self._on_committed = on_committed
        self._announce = announce  # told of the same datapoints after on_committed: the relay tells other processes
        self._max_rows = max_rows
        self._waiting: list[tuple[Submission, Done]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._statement: asyncio.Future[None] | None = None  # the one in flight, until its callbacks ran
        self.committed_rows = 0

    @property
    def waiting_rows(self) -> int:
        return sum(len(submission.readings) for submission, _ in self._waiting)

    def submit(self, submission: Submission, done: Done) -> None:
        """Queue the submission's readings for the next statement; `done` gets its receipt once they are
        committed or failed (at once, if there is nothing to store)."""
        if not submission.readings:
            self._settle(done, _receipt(submission, []))
            self._count()
            return
        self._waiting.append((submission, done))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def store(self, submission: Submission) -> Receipt:
        """Submit and wait for the receipt."""
        receipt: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self.submit(submission, receipt.set_result)
        return await receipt

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
                    self._count()
                finally:
                    self._statement.set_result(None)
                    self._statement = None
        finally:
            self._flushing = None

    def _take(self) -> list[tuple[Submission, Done]]:
        rows = 0
        for count, (submission, _) in enumerate(self._waiting):
            rows += len(submission.readings)
            if rows > self._max_rows and count > 0:
                break
        else:
            count = len(self._waiting)
        taken, self._waiting = self._waiting[:count], self._waiting[count:]
        return taken

    async def _write(self, submissions: list[tuple[Submission, Done]]) -> None:
        fresh, resent, batch = _statement_of(submissions)
        readings = batch.readings
        try:
            stored = await self._insert(self._db, batch)
        except UNAVAILABLE as error:
            log.warning("could not store %d readings: %s", len(readings), error)
            for submission, done in submissions:
                self._settle(done, _unstored(submission))
            return
        except Exception as error:
            # Something in one submission makes PostgreSQL refuse the whole statement. Retried apart,
            # only the submission that holds it fails, and only in the readings that cause it.
            log.warning("the database refused a statement of %d readings from %d submissions (%s); "
                        "storing them apart", len(readings), len(fresh), first_line(error))
            await self._write_apart(fresh)
        else:
            resent += self._answer(fresh, stored)
        if resent:
            await self._answer_resends(resent)

    async def _write_apart(self, submissions: list[tuple[Submission, Done]]) -> None:
        for submission, done in submissions:
            refused: dict[int, str] = {}
            key = submission.resend_key
            try:
                # One transaction per submission: its readings stored as far as PostgreSQL accepts them, then
                # its session's seq taken (waiting for, and losing to, the same message stored meanwhile by
                # another process); all or nothing.
                async with transaction(self._db) as conn:
                    stored = await self._isolate(conn, submission, 0, len(submission.readings), refused)
                    if key is not None and not await sessions.take(conn, key):
                        raise _StoredBefore
            except _StoredBefore:
                await self._answer_resends([(submission, done)])
                continue
            except UNAVAILABLE as error:
                # Nothing of it is stored (the transaction did not commit); unacked, it will be sent again.
                log.warning("could not store %d readings: %s", len(submission.readings), error)
                self._settle(done, _unstored(submission))
                continue
            self._answer([(submission, done)], Stored(stored, set()), refused)

    async def _isolate(self, conn: momoko.Connection, submission: Submission, start: int, end: int,
                       refused: dict[int, str]) -> list[dict[str, Any] | None]:
        """Store what PostgreSQL accepts of the submission's readings[start:end], halving them until each
        refused one stands alone; `refused` gets the position and the reason of each."""
        try:
            async with savepoint(conn):
                # No session key: the transaction has taken the seq already.
                part = Batch()
                part.add(submission.readings[start:end], submission.source)
                stored = await self._insert(conn, part)
                return stored.datapoints
        except UNAVAILABLE:
            raise
        except Exception as error:
            if end - start == 1:
                refused[start] = f"the database refused this reading: {first_line(error)}"
                return [None]
        middle = (start + end) // 2
        return [*await self._isolate(conn, submission, start, middle, refused),
                *await self._isolate(conn, submission, middle, end, refused)]

    def _answer(self, submissions: list[tuple[Submission, Done]], stored: Stored,
                refused: dict[int, str] | None = None) -> list[tuple[Submission, Done]]:
        """Settle each submission the statement stored; returns those it found to be resends."""
        resent, start = [], 0
        for submission, done in submissions:
            end = start + len(submission.readings)
            if start in stored.resent:  # a message is a resend as a whole
                resent.append((submission, done))
            else:
                self._settle(done, _receipt(submission, stored.datapoints[start:end], refused))
            start = end
        # Acks first: with a thousand subscribers the broadcast takes milliseconds, and the
        # controllers' acks should not wait for it.
        committed = [datapoint for datapoint in stored.datapoints if datapoint is not None]
        self.committed_rows += len(committed)
        if committed:
            _guarded(self._on_committed, committed)
            if self._announce is not None:
                _guarded(self._announce, committed)
        return resent

    async def _answer_resends(self, resent: list[tuple[Submission, Done]]) -> None:
        """Answer each resend as its original was answered: with the ids its readings were stored under."""
        self._metrics.messages_resent.inc(len(resent))
        for submission, done in resent:
            try:
                original_ids = await sessions.recall(self._db, submission)
            except UNAVAILABLE as error:
                log.warning("could not look up what a resent message was stored as: %s", error)
                self._settle(done, _unstored(submission))
                continue
            self._settle(done, _resent(submission, original_ids))

    async def _insert(self, db: momoko.Pool | momoko.Connection, batch: Batch) -> Stored:
        self._metrics.statement_rows.observe(len(batch.readings))
        with self._metrics.commit_seconds.time():
            return await insert_datapoints(db, batch)

    def _settle(self, done: Done, receipt: Receipt) -> None:
        """Tally what became of a submission, then tell its sender."""
        tally, submission = self._tally, receipt.submission
        tally["accepted"] += receipt.stored_count
        if receipt.problems or receipt.retry:  # rare: the common message is stored whole
            invalid = len(submission.problems)
            tally["invalid"] += invalid - submission.out_of_scope
            tally["out_of_scope"] += submission.out_of_scope
            if receipt.retry:
                tally["database_unavailable"] += len(submission.readings)
            else:
                tally["unknown_event"] += len(receipt.problems) - invalid - receipt.refused_by_database
                tally["refused_by_database"] += receipt.refused_by_database
        _guarded(done, receipt)

    def _count(self) -> None:
        # Once per statement, not per submission: each inc takes a lock, and a statement holds
        # thousands of single-reading submissions under load.
        accepted = self._tally.pop("accepted", 0)
        if accepted:
            self._metrics.readings_accepted.inc(accepted)
        for reason, count in self._tally.items():
            if count:
                self._metrics.readings_rejected.labels(reason).inc(count)
        self._tally.clear()


def _receipt(submission: Submission, stored: list[dict[str, Any] | None],
             refused: dict[int, str] | None = None) -> Receipt:
    """Validation problems and what the database did not store (unknown events, or readings it refused,
    by position in the submission's readings), item by item."""
    public_ids: list[str | None] = [None] * submission.size
    problems = list(submission.problems)
    refused_here = 0
    for position, (reading, datapoint) in enumerate(zip(submission.readings, stored, strict=True)):
        if datapoint is not None:
            public_ids[reading.index or 0] = datapoint["public_id"]
            continue
        if refused and position in refused:
            refused_here += 1
            problem = {"field": "", "message": refused[position]}
        else:
            problem = {"field": "event_public_id", "message": unknown_event(reading.event_public_id)}
        problems.append(problem if reading.index is None else {"index": reading.index, **problem})
    if submission.batch:
        problems.sort(key=lambda problem: problem["index"])
        summary = f"{len(problems)} of {submission.size} readings were not stored" if problems else ""
    else:
        summary = problems[0]["message"] if problems else ""
    datapoints = [datapoint for datapoint in stored if datapoint is not None]
    return Receipt(submission, datapoints, public_ids, problems, summary, refused_by_database=refused_here)


class _StoredBefore(Exception):
    """Raised inside a transaction to roll it back: its message's seq was stored already."""


def _statement_of(submissions: list[tuple[Submission, Done]]) -> tuple[list[tuple[Submission, Done]],
                                                                        list[tuple[Submission, Done]], Batch]:
    """In one pass (a statement holds thousands of messages): the submissions to store and their batch, and
    the repeats of a session's seq among them (say, the same message from a connection that died and from
    its successor), which are answered after the first is stored."""
    fresh, repeats, batch = [], [], Batch()
    keys: set[tuple[int, int]] = set()
    for item in submissions:
        submission = item[0]
        key = None if submission.session is None else (submission.session, submission.seq)
        if key is not None:
            if key in keys:
                repeats.append(item)
                continue
            keys.add(key)
        fresh.append(item)
        batch.add(submission.readings, submission.source, key)
    return fresh, repeats, batch


def _resent(submission: Submission, original_ids: list[int | None]) -> Receipt:
    """The answer to a resend: the public ids its readings were stored under; an error if none is found."""
    public_ids: list[str | None] = [None] * submission.size
    for reading, row_id in zip(submission.readings, original_ids, strict=True):
        public_ids[reading.index or 0] = None if row_id is None else public_id_of(row_id)
    summary = "" if any(public_ids) else (f"seq {submission.seq} was received before and none of its readings are "
                                          "stored (or they had no timestamp to find them by); not stored again")
    return Receipt(submission, [], public_ids, [], summary, resent=True)


def unknown_event(public_id: str) -> str:
    """What a reading of an event that does not exist is told: and how to create it (ids are safe to quote:
    they passed public_ids.PUBLIC_ID)."""
    return f"unknown event {public_id!r}; create it with: app.py event add {public_id}"


def _unstored(submission: Submission) -> Receipt:
    return Receipt(submission, [], [None] * submission.size, [], "not stored: the database is unavailable; send again",
                   retry=True)


def _guarded(callback: Callable[..., None], *args: Any) -> None:
    # One connection's failing callback must not cost the others their acks.
    try:
        callback(*args)
    except Exception:
        log.exception("ingest callback failed")
