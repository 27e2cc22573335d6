"""BROADCAST_ACROSS_PROCESSES: what one `app.py serve` stores reaches the stream subscribers of the others."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from tornado.websocket import websocket_connect

from models import database
from models.ingest import IngestQueue
from models.readings import Reading, Submission
from models.relay import APPLICATION_NAME, CHANNEL, Relay
from models.tokens import issue_token
from tests.helpers import SPEC_READING, Peer, Serving, serving, spec_shape

SECRET = "r" * 48


@contextlib.contextmanager
def two_servers(database_url: str, tmp_path: Any, relay: bool = True) -> Iterator[tuple[Serving, Serving]]:
    """Processes A and B serving the same database, as behind an upstream with two backends."""
    def env(name: str) -> dict[str, str]:
        return {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path / name), "JWT_SECRET": SECRET,
                "BROADCAST_ACROSS_PROCESSES": "1" if relay else "0"}

    with serving(env("a")) as a, serving(env("b")) as b:
        yield a, b


async def subscribe(server: Serving) -> Peer:
    return Peer(await websocket_connect(f"ws://127.0.0.1:{server.port}/ws/datapoints/stream"))


async def controller_on(server: Serving) -> Peer:
    token = issue_token(SECRET, "ctl-relay-test", "controller", 600)
    return Peer(await websocket_connect(f"ws://127.0.0.1:{server.port}/ws/controller/telemetry?token={token}"))


async def store(controller: Peer, *messages: dict[str, Any]) -> list[str]:
    """Send the messages (each gets a seq) and wait for their acks: the stored public_ids in order."""
    for seq, message in enumerate(messages):
        controller.send({**message, "seq": seq})
    public_ids: list[str] = []
    for seq in range(len(messages)):
        ack = await controller.receive()
        assert ack["type"] == "ack" and ack["seq"] == seq, ack
        public_ids += ack["public_ids"]
    return public_ids


def reading(value: float) -> dict[str, Any]:
    return {**SPEC_READING, "value": value}


def stored_ids(sql: psycopg2.extensions.connection) -> list[str]:
    with sql.cursor() as cur:
        cur.execute("SELECT 'dp_' || id FROM datapoints ORDER BY id")
        return [public_id for (public_id,) in cur.fetchall()]


async def received_ids(subscriber: Peer, count: int) -> list[str]:
    return [datapoint["public_id"] for datapoint in await subscriber.receive_many(count)]


@pytest.mark.gen_test(timeout=60)
async def test_datapoints_stored_through_one_process_reach_the_others_subscribers_once_in_commit_order(
        database_url, tmp_path, sql):
    with two_servers(database_url, tmp_path) as (a, b):
        assert a.health()["relay"] == b.health()["relay"] == "listening"
        on_a, on_b = await subscribe(a), await subscribe(b)
        controller_a, controller_b = await controller_on(a), await controller_on(b)

        first = await store(controller_a, reading(1.0), {"datapoints": [reading(2.0 + i) for i in range(5)]})
        got_on_a, got_on_b = await on_a.receive_many(6), await on_b.receive_many(6)
        assert [d["public_id"] for d in got_on_b] == [d["public_id"] for d in got_on_a] == first
        assert [spec_shape(d) for d in got_on_b] == [spec_shape(d) for d in got_on_a]
        assert [d["value"] for d in got_on_b] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert all(d["cursor"] for d in got_on_b)

        # Each datapoint of B's goes out once on both; on A it comes after A's own, which proves A's
        # relay skipped those when it read past them (it relays in cursor order).
        second = await store(controller_b, reading(7.0))
        assert await received_ids(on_a, 1) == await received_ids(on_b, 1) == second
        third = await store(controller_a, reading(8.0))
        assert await received_ids(on_b, 1) == await received_ids(on_a, 1) == third

        assert stored_ids(sql) == first + second + third
        for peer in (on_a, on_b, controller_a, controller_b):
            peer.close()


@pytest.mark.gen_test(timeout=60)
async def test_without_the_setting_another_process_s_subscribers_receive_nothing(database_url, tmp_path, sql):
    with two_servers(database_url, tmp_path, relay=False) as (a, b):
        assert b.health()["relay"] == "off"
        on_a, on_b = await subscribe(a), await subscribe(b)
        controller = await controller_on(a)
        stored = await store(controller, reading(1.0))
        assert await received_ids(on_a, 1) == stored
        assert await on_b.nothing_within(1.5)
        for peer in (on_a, on_b, controller):
            peer.close()


@pytest.mark.gen_test(timeout=60)
async def test_notified_datapoint_held_back_by_an_older_transaction_is_relayed_when_it_ends(
        database_url, tmp_path, sql):
    with two_servers(database_url, tmp_path) as (a, b):
        on_a, on_b = await subscribe(a), await subscribe(b)
        controller_a, controller_b = await controller_on(a), await controller_on(b)
        # A transaction that writes no datapoint and so notifies nobody, older than A's INSERT: until
        # it ends, the gap-free cursor may not pass A's rows, so B's relay cannot read them yet.
        blocker = psycopg2.connect(database_url)
        try:
            with blocker.cursor() as cur:
                cur.execute("SELECT pg_current_xact_id()")
            stored = await store(controller_a, reading(1.0))
            assert await received_ids(on_a, 1) == stored
            assert await on_b.nothing_within(0.3)
            blocker.commit()
        finally:
            blocker.close()
        assert await received_ids(on_b, 1) == stored

        fence = await store(controller_b, reading(2.0))  # A's own datapoint was not relayed back to A
        assert await received_ids(on_a, 1) == await received_ids(on_b, 1) == fence
        for peer in (on_a, on_b, controller_a, controller_b):
            peer.close()


@pytest.mark.gen_test(timeout=60)
async def test_relay_that_lost_its_listen_connection_reconnects_and_catches_up_without_loss_or_doubles(
        database_url, tmp_path, sql):
    with two_servers(database_url, tmp_path) as (a, b):
        on_a, on_b = await subscribe(a), await subscribe(b)
        controller = await controller_on(a)
        with sql.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE application_name = %s",
                        (f"{APPLICATION_NAME}-{b.process.pid}",))
            [(terminated, backend)] = cur.fetchall()
        assert terminated
        _wait_until_gone(sql, backend)

        # Stored while B is reconnecting: their notifications reach nobody in B.
        stored = await store(controller, reading(1.0), {"datapoints": [reading(2.0), reading(3.0)]}, reading(4.0))
        assert await received_ids(on_b, 4) == await received_ids(on_a, 4) == stored
        fence = await store(controller, reading(5.0))
        assert await received_ids(on_b, 1) == fence
        assert b.health()["relay"] == "listening"
        for peer in (on_a, on_b, controller):
            peer.close()
    assert "webmacs.relay: lost its LISTEN connection" in b.output
    assert "webmacs.relay: listening again; catching up from cursor" in b.output


def _wait_until_gone(sql: psycopg2.extensions.connection, backend: int) -> None:
    deadline = time.monotonic() + 5
    with sql.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
            if cur.fetchone() is None:
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {backend} still there")


@pytest.mark.gen_test(timeout=60)
async def test_controllers_on_both_processes_at_once_every_subscriber_gets_every_datapoint_once(
        database_url, tmp_path, sql):
    with two_servers(database_url, tmp_path) as (a, b):
        on_a, on_b = await subscribe(a), await subscribe(b)
        controller_a, controller_b = await controller_on(a), await controller_on(b)
        messages = [{"datapoints": [reading(float(i)), reading(float(i))]} for i in range(100)]
        stored_a, stored_b = await asyncio.gather(store(controller_a, *messages), store(controller_b, *messages))
        # Each relays the other's in cursor order, so once each has the other's last, nothing more is due.
        fence_a, fence_b = await store(controller_a, reading(-1.0)), await store(controller_b, reading(-2.0))
        everything = set(stored_a + stored_b + fence_a + fence_b)
        for subscriber in (on_a, on_b):
            got = await received_ids(subscriber, len(everything))
            assert len(set(got)) == len(got) and set(got) == everything
            assert await subscriber.nothing_within(0.2)
        assert set(stored_ids(sql)) == everything
        for peer in (on_a, on_b, controller_a, controller_b):
            peer.close()


class LateAnswers:
    """The pool, but its answers arrive late: a statement has committed well before its caller hears of it."""

    def __init__(self, db: Any, delay: float) -> None:
        self.db, self.delay = db, delay

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        cursor = await self.db.execute(*args, **kwargs)
        await asyncio.sleep(self.delay)
        return cursor


@pytest.mark.gen_test(timeout=30)
async def test_own_datapoints_read_back_before_their_insert_returned_are_not_relayed(database_url, sql):
    pool = await database.connect_pool(database_url, 4)
    broadcast: list[dict[str, Any]] = []
    relayed: list[dict[str, Any]] = []
    relay = Relay(database_url, pool, deliver=relayed.extend)
    ingest = IngestQueue(LateAnswers(pool, 0.5), on_committed=broadcast.extend, announce=relay.published)
    await relay.start(settled=ingest.written)
    try:
        reading = Reading("evt_temp01", 1.0, "2025-01-15T14:32:10.000Z", None)
        storing = asyncio.ensure_future(ingest.store(Submission(readings=[reading], size=1)))
        await _until(lambda: len(stored_ids(sql)) == 1)  # committed; the INSERT's answer is still on its way
        # Another process stores a datapoint and notifies: the relay reads both rows at once.
        with sql.cursor() as cur:
            cur.execute("INSERT INTO datapoints (event_id, value, recorded_at)"
                        " SELECT id, 2.0, now() FROM events WHERE public_id = 'evt_temp01' RETURNING 'dp_' || id")
            [(theirs,)] = cur.fetchall()
            cur.execute("SELECT pg_notify(%s, 'another-process ' || %s)", (CHANNEL, theirs))
        [own] = (await storing).datapoints
        assert [d["public_id"] for d in broadcast] == [own["public_id"]]
        await _until(lambda: len(relayed) >= 1)
        assert [d["public_id"] for d in relayed] == [theirs]
    finally:
        await relay.stop()
        pool.close()


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
