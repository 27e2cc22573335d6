"""/api/v1/events: create, read, change and delete the sensors and actuators readings name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.timestamps import format_timestamp
from tests.helpers import SPEC_READING


@pytest.mark.gen_test
async def test_create_with_a_chosen_or_a_generated_public_id(server):
    operator = server.token(role="operator")
    status, chosen = await server.api("POST", "/events", {"public_id": "evt_flow01", "name": "Flow", "unit": "l/min",
                                                          "min_value": 0, "max_value": 100}, token=operator)
    assert status == 201 and chosen == {"public_id": "evt_flow01", "name": "Flow", "type": "sensor",
                                        "unit": "l/min", "min_value": 0, "max_value": 100, "stale_after": None,
                                        "group": None, "stale": False}
    status, generated = await server.api("POST", "/events", {"name": "Valve", "type": "actuator"}, token=operator)
    assert status == 201 and generated["public_id"].startswith("evt_") and generated["type"] == "actuator"
    status, listed = await server.api("GET", "/events", token=server.token(role="viewer"))
    assert {e["public_id"] for e in listed["data"]} >= {"evt_flow01", generated["public_id"], "evt_temp01"}


@pytest.mark.gen_test
async def test_a_taken_public_id_is_409(server):
    status, body = await server.api("POST", "/events", {"public_id": "evt_temp01", "name": "Again"},
                                    token=server.token(role="admin"))
    assert status == 409 and body["error"]["code"] == 409


@pytest.mark.parametrize("body, field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "x", "type": "gauge"}, "type"),
    ({"name": "x", "public_id": "evt temp"}, "public_id"), ({"name": "x", "min_value": "low"}, "min_value"),
    ({"name": "x", "min_value": 5, "max_value": 1}, "min_value"), ({"name": "x", "unit": "u" * 40}, "unit"),
    ({"name": "x", "max_value": True}, "max_value"), ({"name": "x", "stale_after": 0}, "stale_after"),
    ({"name": "x", "stale_after": -5}, "stale_after"), ({"name": "x", "stale_after": "2m"}, "stale_after"),
    ({"name": "x", "stale_after": 1e30}, "stale_after"),
])
@pytest.mark.gen_test
async def test_invalid_event_is_400_naming_the_field(server, body, field):
    status, answer = await server.api("POST", "/events", body, token=server.token(role="admin"))
    assert status == 400 and field in answer["error"]["details"]


@pytest.mark.gen_test
async def test_put_changes_only_what_is_given(server):
    operator = server.token(role="operator")
    status, changed = await server.api("PUT", "/events/evt_temp01", {"name": "Outlet temperature"}, token=operator)
    assert status == 200 and changed["name"] == "Outlet temperature" and changed["unit"] == "°C"
    status, _ = await server.api("PUT", "/events/evt_temp01", {"min_value": 10, "max_value": 0}, token=operator)
    assert status == 400
    assert (await server.api("PUT", "/events/evt_none", {"name": "x"}, token=operator))[0] == 404


@pytest.mark.gen_test
async def test_deleting_an_event_with_datapoints_needs_cascade(server):
    admin = server.token(role="admin")
    assert (await server.api("POST", "/datapoints", SPEC_READING, token=admin))[0] == 201
    status, body = await server.api("DELETE", "/events/evt_temp01", token=admin)
    assert status == 409 and "cascade" in body["error"]["message"]
    assert len(server.rows()) == 1
    assert (await server.api("DELETE", "/events/evt_temp01?cascade=true", token=admin))[0] == 204
    assert server.rows() == []
    assert (await server.api("GET", "/events/evt_temp01", token=admin))[0] == 404
    assert (await server.api("DELETE", "/events/evt_press01", token=admin))[0] == 204


@pytest.mark.parametrize("role, method, status", [("viewer", "POST", 403), ("viewer", "DELETE", 403),
                                                   ("controller", "GET", 403)])
@pytest.mark.gen_test
async def test_roles_on_events(server, role, method, status):
    path = "/events" if method != "DELETE" else "/events/evt_temp01"
    body = {"name": "x"} if method == "POST" else None
    assert (await server.api(method, path, body, token=server.token(role=role)))[0] == status


@pytest.mark.parametrize("body", [r'{"name": "nul\u0000byte"}', r'{"name": "lone\ud800surrogate"}'])
@pytest.mark.gen_test
async def test_text_postgresql_cannot_store_is_a_400_not_a_500(server, body):
    status, answer = await server.api("POST", "/events", body, token=server.token(role="admin"))
    assert status == 400 and answer["error"]["code"] == 400


@pytest.mark.gen_test
async def test_an_event_is_stale_when_its_newest_reading_is_older_than_its_stale_after_whatever_its_siblings_do(
        server):
    operator = server.token(role="operator")
    now = datetime.now(UTC)

    async def send(event: str, seconds_ago: float) -> None:
        reading = {**SPEC_READING, "event_public_id": event, "timestamp": format_timestamp(now - timedelta(
            seconds=seconds_ago))}
        assert (await server.api("POST", "/datapoints", reading, token=operator))[0] == 201

    async def stale() -> tuple[dict[str, bool], dict[str, bool]]:
        listed = (await server.api("GET", "/events", token=operator))[1]["data"]
        latest = (await server.api("GET", "/datapoints/latest", token=operator))[1]["data"]
        return ({e["public_id"]: e["stale"] for e in listed}, {d["event_public_id"]: d["stale"] for d in latest})

    status, changed = await server.api("PUT", "/events/evt_temp01", {"stale_after": 60}, token=operator)
    assert status == 200 and changed["stale_after"] == 60 and changed["stale"]  # no reading at all yet
    await send("evt_temp01", 120)
    await send("evt_press01", 0)  # its sibling keeps flowing: that does not make it fresh
    assert await stale() == ({"evt_temp01": True, "evt_press01": False}, {"evt_temp01": True, "evt_press01": False})
    await send("evt_temp01", 10)
    assert await stale() == ({"evt_temp01": False, "evt_press01": False},
                             {"evt_temp01": False, "evt_press01": False})
    status, cleared = await server.api("PUT", "/events/evt_temp01", {"stale_after": None}, token=operator)
    assert status == 200 and cleared["stale_after"] is None and not cleared["stale"]


@pytest.mark.gen_test
async def test_events_gather_in_groups_set_over_the_api(server):
    editor = server.token(role="operator", subject="op")
    status, event = await server.api("PUT", "/events/evt_temp01", {"group": "Reactor"}, token=editor)
    assert status == 200 and event["group"] == "Reactor"
    status, answer = await server.api("PUT", "/events/evt_temp01", {"group": ""}, token=editor)
    assert status == 400 and "group" in answer["error"]["details"]
    status, listed = await server.api("GET", "/events", token=server.token(role="viewer"))
    assert {e["public_id"]: e["group"] for e in listed["data"]} == {"evt_press01": None, "evt_temp01": "Reactor"}
