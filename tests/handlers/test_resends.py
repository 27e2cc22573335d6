"""Exactly once across lost acks: a controller names its session (?session=) and numbers its messages in
it; a resend is answered with the original's ack, and is neither stored nor broadcast again."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from tornado.websocket import websocket_connect

from controller.simulator import Simulator
from models import sessions
from models.ingest import unknown_event
from tests.helpers import SPEC_READING, TEST_SECRET, CuttingProxy, Peer, serving


def reading(value: float, event: str = "evt_temp01", seq: int | None = None) -> dict:
    message = {**SPEC_READING, "event_public_id": event, "value": value}
    return message if seq is None else {**message, "seq": seq}


async def in_session(server, name: str, token: str | None = None) -> Peer:
    return await server.connect(f"/ws/controller/telemetry?token={token or server.token()}&session={quote(name)}")


@pytest.mark.gen_test
async def test_a_message_resent_after_its_ack_was_lost_gets_the_same_ack_and_is_stored_and_broadcast_once(server):
    watcher = await server.connect_stream()
    first = await in_session(server, "rig-1")
    first.send(reading(1.0, seq=1))
    ack = await first.receive()
    first.close()  # the connection, and with it (for the controller) the ack, is gone
    assert (await watcher.receive())["public_id"] == ack["public_ids"][0]

    again = await in_session(server, "rig-1")
    again.send(reading(1.0, seq=1))
    again.send(reading(2.0, seq=2))
    assert await again.receive() == ack
    assert (await again.receive())["seq"] == 2
    assert [row["value"] for row in server.rows()] == [1.0, 2.0]
    assert (await watcher.receive())["value"] == 2.0
    assert await watcher.nothing_within(0.3)


@pytest.mark.gen_test
async def test_a_new_session_or_another_sender_starting_again_at_seq_1_is_not_taken_for_a_resend(server):
    rig = await in_session(server, "boot-1")
    rig.send(reading(1.0, seq=1))
    assert (await rig.receive())["type"] == "ack"
    restarted = await in_session(server, "boot-2")  # the controller restarted and named a new session
    restarted.send(reading(2.0, seq=1))
    other = await in_session(server, "boot-1", server.token(subject="ctl-other"))  # same name, other sender
    other.send(reading(3.0, seq=1))
    first, second = await restarted.receive(), await other.receive()
    assert first["type"] == second["type"] == "ack" and first["public_ids"] != second["public_ids"]
    assert sorted(row["value"] for row in server.rows()) == [1.0, 2.0, 3.0]


@pytest.mark.gen_test
async def test_a_resent_batch_gets_the_original_ack_item_by_item_even_where_an_item_was_not_stored(server):
    batch = {"seq": 7, "datapoints": [reading(1.0), reading(2.0, event="evt_nope"), reading(3.0, event="evt_press01")]}
    rig = await in_session(server, "rig")
    rig.send(batch)
    error, ack = await rig.receive(), await rig.receive()
    assert error["errors"] == [{"index": 1, "field": "event_public_id", "message": unknown_event("evt_nope")}]
    assert ack["public_ids"][1] is None and all(ack["public_ids"][0::2])

    rig.send(batch)
    assert await rig.receive() == ack
    assert len(server.rows()) == 2


@pytest.mark.gen_test
async def test_a_message_retried_after_later_ones_were_stored_is_still_stored_once(server):
    """Retried after "database unavailable", a message can arrive after later ones: its seq, below the
    session's highest, was never stored, so it is not a resend."""
    rig = await in_session(server, "rig")
    rig.send(reading(2.0, seq=2))
    assert (await rig.receive())["seq"] == 2
    rig.send(reading(1.0, seq=1))
    ack = await rig.receive()
    assert ack["type"] == "ack" and ack["seq"] == 1
    rig.send(reading(1.0, seq=1))
    assert await rig.receive() == ack
    assert sorted(row["value"] for row in server.rows()) == [1.0, 2.0]


@pytest.mark.gen_test
async def test_resending_a_message_of_which_nothing_was_stored_says_so_and_the_connection_stays_up(server):
    rig = await in_session(server, "rig")
    rig.send(reading(1.0, event="evt_nope", seq=1))
    assert (await rig.receive())["message"] == unknown_event("evt_nope")
    rig.send(reading(1.0, event="evt_nope", seq=1))
    answer = await rig.receive()
    assert answer["type"] == "error" and answer["seq"] == 1
    assert answer["message"].startswith("seq 1 was received before and none of its readings are stored")
    rig.send(reading(5.0, seq=2))
    assert (await rig.receive())["type"] == "ack"


@pytest.mark.gen_test(timeout=30)
async def test_a_resend_of_a_message_the_database_refused_in_part_is_recognised_too(poisoned):
    """Refused by PostgreSQL, a message is stored apart, reading by reading where need be: its seq is taken
    once, with the readings that were stored."""
    server = poisoned
    message = {"seq": 1, "datapoints": [reading(1.0), reading(13.0), reading(2.0)]}
    rig = await in_session(server, "rig")
    rig.send(message)
    assert [problem["index"] for problem in (await rig.receive())["errors"]] == [1]
    ack = await rig.receive()
    assert [bool(public_id) for public_id in ack["public_ids"]] == [True, False, True]
    rig.send(message)
    assert await rig.receive() == ack
    rig.send({"seq": 2, "datapoints": [reading(3.0)]})
    assert (await rig.receive())["seq"] == 2
    assert [row["value"] for row in server.rows()] == [1.0, 2.0, 3.0]


@pytest.mark.gen_test
@pytest.mark.parametrize("message", [reading(1.0), reading(1.0, seq=0), {**reading(1.0), "seq": "one"},
                                     {**reading(1.0), "seq": 1.5}, {**reading(1.0), "seq": 2**63}])
async def test_in_a_session_a_message_without_a_whole_seq_from_1_is_refused_and_nothing_else_changes(server, message):
    rig = await in_session(server, "rig")
    rig.send(message)
    answer = await rig.receive()
    assert answer["type"] == "error" and answer["message"] == sessions.SEQ_RULE
    rig.send(reading(2.0, seq=1))
    assert (await rig.receive())["type"] == "ack"
    assert [row["value"] for row in server.rows()] == [2.0]


@pytest.mark.gen_test
async def test_a_session_name_outside_the_rule_is_refused_with_1008(server):
    peer = await in_session(server, "a b")
    assert await peer.closed() == (1008, sessions.NAME_RULE)


@pytest.mark.gen_test(timeout=90)
async def test_two_processes_given_the_same_messages_at_once_store_each_once_and_ack_it_alike(database_url, tmp_path,
                                                                                             sql):
    """A controller's old connection (to one process) and its new one (to another) both carry the same
    messages: each is stored once, and both connections get the same ack for it."""
    from models.tokens import issue_token
    env = {"DATABASE_URL": database_url, "JWT_SECRET": TEST_SECRET}
    token = issue_token(TEST_SECRET, "ctl-twice", "controller", 600)
    with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
            serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
        peers = [Peer(await websocket_connect(f"ws://127.0.0.1:{port}/ws/controller/telemetry?token={token}"
                                              "&session=twice")) for port in (a.port, b.port)]
        messages = [{"seq": seq, "datapoints": [reading(seq + place / 10) for place in range(5)]}
                    for seq in range(1, 41)]
        for message in messages:
            for peer in peers:
                peer.send(message)
        acks = [sorted((answer["seq"], answer["public_ids"]) for answer in await peer.receive_many(40, timeout=30))
                for peer in peers]
    assert acks[0] == acks[1]
    with sql.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT value) FROM datapoints")
        assert cur.fetchone() == (200, 200)


@pytest.mark.gen_test(timeout=120)
async def test_the_simulator_stores_every_reading_exactly_once_through_connections_cut_with_acks_in_flight(
        server, app):
    proxy = CuttingProxy(server.port)
    await proxy.start()
    simulator = Simulator(f"ws://127.0.0.1:{proxy.port}/ws/controller/telemetry?token={server.token()}",
                          ["evt_temp01", "evt_press01"], rate=100, batch=1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    try:
        for cut in range(1, 4):
            await server.wait_for(lambda enough=50 * cut: simulator.acked >= enough, timeout=30)
            proxy.replies_lost = True  # the server goes on storing; its acks never arrive
            stored = len(server.rows())
            await server.wait_for(lambda before=stored: len(server.rows()) >= before + 10)
            proxy.cut()
            proxy.replies_lost = False
            await server.wait_for(lambda connections=cut: simulator.connections > connections, timeout=30)
        await server.wait_for(lambda: not simulator.unacked, timeout=30)
    finally:
        stop.set()
        await running
        await proxy.stop()
    rows = server.rows()
    assert simulator.rejected == 0 and simulator.sent == simulator.acked == len(rows)
    assert len({(row["event_public_id"], row["timestamp"], row["value"]) for row in rows}) == len(rows)
    assert app.metrics.messages_resent._value.get() >= 3  # each cut left acks to be answered again
