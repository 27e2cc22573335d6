"""Commands to actuators: sent on the socket of the controller that owns the event, waiting while it is
offline, expiring unanswered, acked or failed by it, and stored as a reading once an actuator is set."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from tornado.websocket import websocket_connect

from controller.simulator import Simulator
from tests.helpers import SPEC_READING, TEST_SECRET, Peer, serving

ADMIN = {"role": "admin", "subject": "admin@example.org"}


async def make_events(server) -> None:
    admin = server.token(**ADMIN)
    for event in ({"public_id": "evt_valve", "name": "Valve", "type": "actuator"},
                  {"public_id": "evt_heater", "name": "Heater setpoint", "type": "range", "unit": "°C",
                   "min_value": 0, "max_value": 100},
                  {"public_id": "evt_reset", "name": "Reset", "type": "cmd_button"}):
        status, answer = await server.api("POST", "/events", event, token=admin)
        assert status == 201, answer


async def register(server, **scope) -> str:
    status, answer = await server.api("POST", "/controllers", {"name": "Rig", **scope}, token=server.token(**ADMIN))
    assert status == 201, answer
    return answer["access_token"]


async def command(server, event: str, value: float, role: str = "operator", **extra) -> tuple[int, dict]:
    return await server.api("POST", f"/events/{event}/commands", {"value": value, **extra},
                            token=server.token(role=role, subject=f"{role}@example.org"))


async def status_of(server, command_id: str) -> dict:
    status, answer = await server.api("GET", f"/commands/{command_id}", token=server.token(role="viewer"))
    assert status == 200, answer
    return answer


async def until_status(server, command_id: str, wanted: str, timeout: float = 5.0) -> dict:
    async def reached() -> bool:
        return (await status_of(server, command_id))["status"] == wanted
    await server.wait_for(reached, timeout=timeout)
    return await status_of(server, command_id)


@pytest.mark.gen_test
async def test_an_operator_sets_an_actuator_the_controller_gets_it_acks_it_and_the_new_state_is_a_datapoint(server):
    await make_events(server)
    rig = await server.connect_controller(token=await register(server, events=["evt_valve", "evt_heater"]))
    watcher = await server.connect_stream()

    status, sent = await command(server, "evt_valve", 1)
    assert status == 202 and sent["status"] == "pending" and sent["created_by"] == "operator@example.org"
    frame = await rig.receive()
    assert frame == {"type": "command", "command_id": sent["command_id"], "event_public_id": "evt_valve",
                     "value": 1.0, "expires_at": sent["expires_at"]}
    delivered = await status_of(server, sent["command_id"])
    assert delivered["status"] == "delivered" and delivered["controller_public_id"] is not None

    rig.send({"type": "command_ack", "command_id": sent["command_id"], "ok": True})
    acked = await until_status(server, sent["command_id"], "acked")
    assert acked["finished_at"] is not None
    datapoint = await watcher.receive()
    assert (datapoint["event_public_id"], datapoint["value"]) == ("evt_valve", 1.0)
    status, listed = await server.api("GET", "/events/evt_valve/commands", token=server.token(role="viewer"))
    assert status == 200 and [c["command_id"] for c in listed["commands"]] == [sent["command_id"]]


@pytest.mark.gen_test
async def test_a_command_waits_for_its_offline_controller_and_a_failure_keeps_the_controllers_reason(server):
    await make_events(server)
    token = await register(server, event_prefix="evt_")
    status, sent = await command(server, "evt_heater", 42.5)
    await asyncio.sleep(0.3)
    assert (await status_of(server, sent["command_id"]))["status"] == "pending"

    rig = await server.connect_controller(token=token)
    frame = await rig.receive()
    assert frame["command_id"] == sent["command_id"] and frame["value"] == 42.5
    rig.send({"type": "command_ack", "command_id": sent["command_id"], "ok": False, "message": "heater tripped"})
    failed = await until_status(server, sent["command_id"], "failed")
    assert failed["message"] == "heater tripped"
    assert server.rows() == []  # a setpoint that was not applied is no reading


@pytest.mark.gen_test(timeout=30)
async def test_a_command_unanswered_before_its_ttl_expires_and_is_never_sent_afterwards(server):
    await make_events(server)
    token = await register(server, events=["evt_reset"])
    status, sent = await command(server, "evt_reset", 1, ttl=0.5)
    assert status == 202
    await until_status(server, sent["command_id"], "expired")
    rig = await server.connect_controller(token=token)
    assert await rig.nothing_within(0.5)


@pytest.mark.gen_test
async def test_a_command_delivered_but_unacked_when_the_socket_dropped_is_sent_again_on_the_next_one(server):
    await make_events(server)
    token = await register(server, events=["evt_valve"])
    first = await server.connect_controller(token=token)
    status, sent = await command(server, "evt_valve", 0)
    assert (await first.receive())["command_id"] == sent["command_id"]
    first.close()
    second = await server.connect_controller(token=token)
    assert (await second.receive())["command_id"] == sent["command_id"]
    assert await second.nothing_within(0.3)  # once per connection
    second.send({"type": "command_ack", "command_id": sent["command_id"], "ok": True})
    await until_status(server, sent["command_id"], "acked")


@pytest.mark.gen_test
async def test_commands_go_only_to_the_owner_an_unscoped_one_owns_what_it_last_sent(server):
    await make_events(server)
    other = await server.connect_controller(token=await register(server, events=["evt_heater"]))
    unscoped_token = await register(server)
    unscoped = await server.connect_controller(token=unscoped_token)
    unscoped.send({**SPEC_READING, "event_public_id": "evt_valve", "value": 0, "seq": 1})
    assert (await unscoped.receive())["type"] == "ack"

    status, sent = await command(server, "evt_valve", 1)
    assert (await unscoped.receive())["command_id"] == sent["command_id"]
    assert await other.nothing_within(0.3)


@pytest.mark.gen_test
@pytest.mark.parametrize(("event", "value", "role", "extra", "expected"), [
    ("evt_valve", 1, "viewer", {}, (403, "role viewer may not do this")),
    ("evt_temp01", 1, "operator", {}, (400, "commands go to events of type actuator, range, cmd_button, cmd_opened, "
                                             "cmd_closed; evt_temp01 is a sensor")),
    ("evt_heater", 101, "operator", {}, (400, "value must be within the event's range, 0 to 100")),
    ("evt_valve", 1, "operator", {"ttl": 0}, (400, "ttl must be a number of seconds above 0 and at most 86400")),
    ("evt_nothing", 1, "admin", {}, (404, "no event evt_nothing")),
])
async def test_a_command_the_api_refuses_says_why_and_is_not_sent(server, event, value, role, extra, expected):
    await make_events(server)
    rig = await server.connect_controller(token=await register(server))
    status, answer = await command(server, event, value, role=role, **extra)
    assert status == expected[0]
    assert expected[1] in json.dumps(answer)
    assert await rig.nothing_within(0.3)


@pytest.mark.gen_test
async def test_an_answer_to_no_command_of_this_controller_is_an_error_and_the_connection_stays_up(server):
    await make_events(server)
    rig = await server.connect_controller(token=await register(server, events=["evt_valve"]))
    rig.send({"type": "command_ack", "command_id": "cmd_0123", "ok": True})
    assert (await rig.receive())["message"] == ("command_ack for cmd_0123: no command of that id awaits this "
                                                 "controller's answer")
    rig.send({"type": "command_ack", "ok": "yes"})
    assert (await rig.receive())["message"] == "command_ack needs the command_id it answers"
    rig.send({**SPEC_READING, "event_public_id": "evt_valve", "seq": 1})
    assert (await rig.receive())["type"] == "ack"


@pytest.mark.gen_test(timeout=90)
async def test_a_command_sent_to_one_process_reaches_the_controller_on_another(database_url, tmp_path, sql):
    env = {"DATABASE_URL": database_url, "JWT_SECRET": TEST_SECRET}
    with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
            serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
        from models.tokens import issue_token
        admin = issue_token(TEST_SECRET, "admin@example.org", "admin", 600)

        def call(base: str, method: str, path: str, body: dict | None = None) -> dict:
            request = urllib.request.Request(base + "/api/v1" + path, method=method,
                                             data=None if body is None else json.dumps(body).encode(),
                                             headers={"Authorization": f"Bearer {admin}",
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                return json.loads(response.read())

        call(a.base_url, "POST", "/events", {"public_id": "evt_valve", "name": "Valve", "type": "actuator"})
        token = call(a.base_url, "POST", "/controllers", {"name": "Rig", "events": ["evt_valve"]})["access_token"]
        rig = Peer(await websocket_connect(f"ws://127.0.0.1:{b.port}/ws/controller/telemetry?token={token}"))
        await asyncio.sleep(0.3)  # b has attached the socket
        sent = call(a.base_url, "POST", "/events/evt_valve/commands", {"value": 1})
        frame = await rig.receive()
        assert frame["command_id"] == sent["command_id"]
        rig.send({"type": "command_ack", "command_id": sent["command_id"], "ok": True})
        for _ in range(50):
            if call(a.base_url, "GET", f"/commands/{sent['command_id']}")["status"] == "acked":
                break
            await asyncio.sleep(0.1)
        assert call(a.base_url, "GET", f"/commands/{sent['command_id']}")["status"] == "acked"


@pytest.mark.gen_test(timeout=60)
async def test_the_simulator_applies_a_setpoint_acks_it_and_then_reports_it(server):
    await make_events(server)
    simulator = Simulator(server.url(f"/ws/controller/telemetry?token={await register(server, event_prefix='evt_')}"),
                          ["evt_heater", "evt_valve"], rate=20, batch=1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    try:
        await server.wait_for(lambda: simulator.acked >= 4)
        status, sent = await command(server, "evt_heater", 42)
        await until_status(server, sent["command_id"], "acked")
        stored = len(server.rows())
        await server.wait_for(lambda: len(server.rows()) >= stored + 10)
    finally:
        stop.set()
        await running
    latest = [row["value"] for row in server.rows() if row["event_public_id"] == "evt_heater"][-5:]
    assert latest == [42.0] * 5
