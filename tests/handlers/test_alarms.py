"""Alarms: rules checked on every reading as it commits (and on silences), an alarm lifecycle people own,
signed webhooks sent once with retries, and the activity log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from models.timestamps import format_timestamp
from tests.helpers import TEST_SECRET, Peer, Receiver, serving

SECRET = "webhook-secret-0123456789"
OPERATOR = {"role": "operator", "subject": "op@lab.example"}
ADMIN = {"role": "admin", "subject": "admin@lab.example"}


def stamp(seconds_from_now: float = 0.0) -> str:
    return format_timestamp(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


def readings(*values: float, event: str = "evt_temp01", step: float = 0.01, start: float = 0.0) -> list[dict]:
    return [{"event_public_id": event, "value": value, "timestamp": stamp(start + place * step)}
            for place, value in enumerate(values)]


async def add_rule(server, **body) -> dict:
    status, rule = await server.api("POST", "/rules", {"name": "Too hot", "event_public_id": "evt_temp01",
                                                       "condition": "above", "threshold": 50, **body},
                                    token=server.token(**OPERATOR))
    assert status == 201, rule
    return rule


async def add_webhook(server, url: str, kinds: list[str]) -> dict:
    status, hook = await server.api("POST", "/webhooks", {"url": url, "secret": SECRET, "kinds": kinds},
                                    token=server.token(**ADMIN))
    assert status == 201, hook
    return hook


async def alarms_of(server, query: str = "") -> list[dict]:
    status, answer = await server.api("GET", f"/alarms{query}", token=server.token(role="viewer"))
    assert status == 200, answer
    return answer["alarms"]


async def until_alarms(server, count: int, query: str = "", timeout: float = 5.0) -> list[dict]:
    async def enough() -> bool:
        return len(await alarms_of(server, query)) >= count
    await server.wait_for(enough, timeout=timeout)
    return await alarms_of(server, query)


async def send(controller: Peer, seq: int, items: list[dict]) -> dict:
    controller.send({"seq": seq, "datapoints": items})
    answer = await controller.receive()
    assert answer["type"] == "ack" and answer["seq"] == seq, answer
    return answer


def verified(request: tuple, secret: str = SECRET) -> dict:
    """The delivery's body, once its signature is checked as the README tells receivers to."""
    headers, body, *_ = request
    timestamp = headers["X-Webmacs-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Webmacs-Signature"], expected)
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(body)


@pytest.mark.gen_test(timeout=30)
async def test_a_spike_inside_a_batch_of_500_raises_one_alarm_and_one_signed_webhook(server):
    receiver = Receiver().start()
    try:
        await add_webhook(server, receiver.url, ["alarm.raised"])
        rule = await add_rule(server, severity="critical")
        controller = await server.connect_controller()
        values = [20.0] * 500
        values[250] = 80.0
        await send(controller, 1, readings(*values))

        await until_alarms(server, 1)
        await server.wait_for(lambda: len(receiver.received) == 1)
        await asyncio.sleep(1.5)  # nothing more comes: not a second alarm, not a second delivery
        [alarm] = await alarms_of(server)
        assert len(receiver.received) == 1
        assert (alarm["rule_id"], alarm["severity"], alarm["first_value"], alarm["count"]) == (
            rule["rule_id"], "critical", 80.0, 1)
        assert alarm["state"] == "cleared" and alarm["cleared_reason"] == "condition no longer holds"
        delivered = verified(receiver.received[0])
        assert delivered["kind"] == "alarm.raised" and delivered["alarm"]["alarm_id"] == alarm["alarm_id"]
        assert receiver.received[0][0]["X-Webmacs-Event"] == "alarm.raised"
    finally:
        receiver.stop()


@pytest.mark.gen_test(timeout=30)
async def test_in_an_alarm_storm_every_reading_is_counted_against_each_alarm_it_meets(server):
    above = await add_rule(server, hysteresis=5)
    inside = await add_rule(server, name="In the hot range", condition="inside", low=60, high=100)
    outside = await add_rule(server, name="Outside its limits", condition="outside", low=0, high=65)
    await add_rule(server, name="Frozen", condition="below", threshold=0)  # never met
    controller = await server.connect_controller()
    for seq in (1, 2):  # 1,000 readings from 70 to 79: each meets the first three rules
        await send(controller, seq, readings(*(70.0 + n % 10 for n in range(500)), start=seq * 10))
    await send(controller, 3, readings(55.0, 47.0, 44.0, start=30))  # then back, step by step

    async def settled() -> bool:
        return len(await alarms_of(server, "?state=cleared")) == 3
    await server.wait_for(settled, timeout=5)
    counted = {alarm["rule_id"]: (alarm["count"], alarm["last_value"]) for alarm in await alarms_of(server)}
    assert counted == {
        above["rule_id"]: (1001, 44.0),  # 55 still met it; 47 hovered in its hysteresis; 44 cleared it
        inside["rule_id"]: (1000, 55.0),  # 55 cleared the other two
        outside["rule_id"]: (1000, 55.0),
    }


@pytest.mark.gen_test(timeout=30)
async def test_for_delays_an_alarm_and_a_shorter_blip_never_fires(server):
    await add_rule(server, **{"for": 1})
    controller = await server.connect_controller()
    await send(controller, 1, readings(80.0, 80.0, 20.0, step=0.4))  # above for 0.4 s only
    await asyncio.sleep(2.0)
    assert await alarms_of(server) == []

    await send(controller, 2, readings(80.0, 80.0, 80.0, step=0.6, start=1.0))  # above for 1.2 s
    [alarm] = await until_alarms(server, 1)
    assert alarm["state"] == "active" and alarm["condition"] == "above 50 for 1 s"


@pytest.mark.gen_test(timeout=30)
async def test_hysteresis_keeps_one_alarm_through_a_value_hovering_on_the_line(server):
    await add_rule(server, hysteresis=5)
    controller = await server.connect_controller()
    await send(controller, 1, readings(51.0, 49.0, 51.0, 48.0, 52.0, 49.5))
    [alarm] = await until_alarms(server, 1)
    assert alarm["state"] == "active"
    await server.wait_for(lambda: True)
    await send(controller, 2, readings(44.0, start=1.0))
    await until_alarms(server, 1, "?state=cleared")

    async def counted() -> bool:
        [alarm] = await alarms_of(server)
        return alarm["count"] == 3 and alarm["last_value"] == 44.0
    await server.wait_for(counted, timeout=5)  # 51, 51 and 52 met the condition; the rest hovered


@pytest.mark.gen_test(timeout=30)
async def test_no_data_fires_for_a_silent_event_while_its_siblings_flow_and_a_reading_clears_it(server):
    await add_rule(server, name="Pressure silent", event_public_id="evt_press01", condition="no_data", seconds=1)
    controller = await server.connect_controller()
    started = time.monotonic()
    seq = 0
    while not await alarms_of(server, "?state=active"):
        seq += 1
        await send(controller, seq, readings(21.0))  # the sibling keeps flowing
        await asyncio.sleep(0.2)
        assert time.monotonic() - started < 5, "no alarm for the silent event"
    [alarm] = await alarms_of(server)
    assert alarm["event_public_id"] == "evt_press01" and alarm["condition"] == "no data for 1 s"
    await send(controller, seq + 1, readings(2.0, event="evt_press01"))
    await until_alarms(server, 1, "?state=cleared")


@pytest.mark.gen_test(timeout=30)
async def test_an_operator_acknowledges_with_a_comment_a_viewer_may_not_and_the_log_says_who(server):
    await add_rule(server)
    controller = await server.connect_controller()
    await send(controller, 1, readings(90.0))
    [alarm] = await until_alarms(server, 1)
    path = f"/alarms/{alarm['alarm_id']}/ack"

    status, _ = await server.api("POST", path, {"comment": "mine"}, token=server.token(role="viewer"))
    assert status == 403
    status, acked = await server.api("POST", path, {"comment": "checking the chiller"}, token=server.token(**OPERATOR))
    assert status == 200
    assert (acked["acknowledged"], acked["acknowledged_by"], acked["ack_comment"], acked["state"]) == (
        True, "op@lab.example", "checking the chiller", "active")
    status, again = await server.api("POST", path, {}, token=server.token(**OPERATOR))
    assert status == 409
    assert [a["alarm_id"] for a in await alarms_of(server, "?state=acknowledged")] == [alarm["alarm_id"]]
    assert await alarms_of(server, "?state=open") != []  # still active

    status, log = await server.api("GET", f"/activity?subject={alarm['alarm_id']}", token=server.token(**OPERATOR))
    assert status == 200
    [entry] = log["entries"]
    assert (entry["actor"], entry["action"], entry["details"]) == (
        "op@lab.example", "alarm.acknowledged", {"comment": "checking the chiller"})
    status, _ = await server.api("GET", "/activity", token=server.token(role="viewer"))
    assert status == 403


@pytest.mark.gen_test(timeout=30)
async def test_editing_or_deleting_a_rule_clears_its_active_alarm_with_the_reason(server):
    rule = await add_rule(server)
    controller = await server.connect_controller()
    await send(controller, 1, readings(90.0))
    await until_alarms(server, 1, "?state=active")
    status, _ = await server.api("PUT", f"/rules/{rule['rule_id']}",
                                 {"name": "Hotter", "condition": "above", "threshold": 95},
                                 token=server.token(**OPERATOR))
    assert status == 200
    [edited] = await until_alarms(server, 1, "?state=cleared")
    assert edited["cleared_reason"] == "rule edited"

    await send(controller, 2, readings(99.0, start=1.0))
    await until_alarms(server, 1, "?state=active")
    status, _ = await server.api("DELETE", f"/rules/{rule['rule_id']}", token=server.token(**OPERATOR))
    assert status == 204
    cleared = await until_alarms(server, 2, "?state=cleared")
    assert cleared[0]["cleared_reason"] == "rule deleted" and cleared[0]["rule_name"] == "Hotter"


@pytest.mark.gen_test(timeout=30)
async def test_stream_subscribers_that_ask_get_alarm_frames_and_others_only_datapoints(server):
    await add_rule(server)
    asking = await server.connect_stream("?alarms=1")
    plain = await server.connect_stream()
    controller = await server.connect_controller()
    await send(controller, 1, readings(90.0))
    frames = await asking.receive_many(2)
    alarm_frames = [frame for frame in frames if frame.get("type") == "alarm"]
    assert len(alarm_frames) == 1 and alarm_frames[0]["kind"] == "alarm.raised"
    assert alarm_frames[0]["alarm"]["event_public_id"] == "evt_temp01"
    datapoint = await plain.receive()
    assert "type" not in datapoint and datapoint["value"] == 90.0
    assert await plain.nothing_within(0.5)


@pytest.mark.gen_test(timeout=30)
async def test_an_events_limits_become_an_outside_rule_in_one_call(server):
    operator = server.token(**OPERATOR)
    path = "/events/evt_temp01/rules/from-limits"
    status, answer = await server.api("POST", path, {}, token=operator)
    assert status == 400 and "min_value and max_value" in json.dumps(answer)
    status, _ = await server.api("PUT", "/events/evt_temp01", {"min_value": 10, "max_value": 30}, token=operator)
    assert status == 200
    status, rule = await server.api("POST", path, {"severity": "critical"}, token=operator)
    assert status == 201
    assert (rule["condition"], rule["low"], rule["high"], rule["description"]) == (
        "outside", 10, 30, "outside [10, 30]")
    controller = await server.connect_controller()
    await send(controller, 1, readings(20.0, 31.0))
    [alarm] = await until_alarms(server, 1)
    assert alarm["first_value"] == 31.0 and alarm["severity"] == "critical"


@pytest.mark.gen_test(timeout=60)
@pytest.mark.settings(webhook_timeout=1.0, webhook_backoff=0.3)
async def test_a_receiver_that_hangs_then_fails_is_retried_with_backoff_and_ingest_does_not_wait(server):
    receiver = Receiver(["hang", 500]).start()
    try:
        hook = await add_webhook(server, receiver.url, ["alarm.raised"])
        await add_rule(server)
        controller = await server.connect_controller()
        await send(controller, 1, readings(90.0))
        await server.wait_for(lambda: len(receiver.received) == 1)  # the first attempt hangs

        for seq in range(2, 102):  # stored and acked while the receiver keeps the delivery waiting
            await send(controller, seq, readings(20.0, start=seq * 0.01))
        assert len(receiver.received) == 1 and time.time() - receiver.received[0][2] < 1.0

        await server.wait_for(lambda: len(receiver.answered(200)) == 1, timeout=20)
        ids = {request[0]["X-Webmacs-Delivery"] for request in receiver.received}
        assert len(receiver.received) == 3 and len(ids) == 1  # one delivery, three attempts
        times = [request[2] for request in receiver.received]
        assert times[1] - times[0] >= 1.0  # the hang counted as failed once the timeout passed
        status, log = await server.api("GET", f"/webhooks/{hook['webhook_id']}/deliveries",
                                       token=server.token(**ADMIN))
        [delivery] = log["deliveries"]
        assert (delivery["status"], delivery["attempts"], delivery["attempt_codes"]) == ("delivered", 3, [0, 500, 200])
    finally:
        receiver.stop()


@pytest.mark.gen_test
async def test_webhooks_refuse_urls_that_would_reach_the_server_itself_or_no_place_for_a_webhook(server):
    admin = server.token(**ADMIN)
    for url, reason in ((f"http://127.0.0.1:{server.port}/api/v1/tokens", "may not call this server itself"),
                        ("http://169.254.169.254/latest/meta-data", "an address webhooks may not reach"),
                        ("file:///etc/passwd", "only http and https URLs"),
                        ("gopher://127.0.0.1:70/", "only http and https URLs")):
        body = {"url": url, "secret": SECRET, "kinds": ["alarm.raised"]}
        status, answer = await server.api("POST", "/webhooks", body, token=admin)
        assert status == 400 and reason in answer["error"]["details"]["url"], (url, answer)
    hook = await add_webhook(server, "http://127.0.0.1:9/hook", ["alarm.raised"])
    status, listed = await server.api("GET", "/webhooks", token=admin)
    assert status == 200 and SECRET not in json.dumps(listed) and "secret" not in listed["webhooks"][0]
    status, _ = await server.api("GET", "/webhooks", token=server.token(**OPERATOR))
    assert status == 403
    status, log = await server.api("GET", f"/activity?subject={hook['webhook_id']}", token=admin)
    assert [entry["action"] for entry in log["entries"]] == ["webhook.created"]
    assert SECRET not in json.dumps(log)


@pytest.mark.gen_test(timeout=30)
async def test_a_delivery_is_checked_where_it_connects_so_a_webhook_that_now_leads_to_the_server_is_refused(server):
    receiver = Receiver().start()
    try:
        hook = await add_webhook(server, receiver.url, ["experiment.started"])
        # As if its name now resolved here: each delivery checks the addresses it would connect to.
        server.execute("UPDATE webhooks SET url = %s WHERE public_id = %s",
                       f"http://127.0.0.1:{server.port}/api/v1/health", hook["webhook_id"])
        status, _ = await server.api("POST", "/experiments", {"name": "Run 9"}, token=server.token(**OPERATOR))
        assert status == 201

        async def deliveries() -> list[dict]:
            status, log = await server.api("GET", f"/webhooks/{hook['webhook_id']}/deliveries",
                                           token=server.token(**ADMIN))
            assert status == 200
            return log["deliveries"]

        async def attempted() -> bool:  # and recorded: a claim counts the attempt before it is made
            return any(delivery["attempt_codes"] for delivery in await deliveries())

        await server.wait_for(attempted)
        [delivery] = await deliveries()
        assert delivery["status"] == "pending" and delivery["attempt_codes"] == [0], delivery
        assert delivery["last_error"] == "refused: a webhook may not call this server itself", delivery
        assert receiver.received == []
    finally:
        receiver.stop()


@pytest.mark.gen_test
async def test_the_activity_log_records_who_started_and_stopped_an_experiment_newest_first(server):
    operator = server.token(**OPERATOR)
    status, experiment = await server.api("POST", "/experiments", {"name": "Run 7"}, token=operator)
    assert status == 201
    status, _ = await server.api("PUT", f"/experiments/{experiment['public_id']}/stop", token=operator)
    assert status == 200
    status, log = await server.api("GET", "/activity?limit=1", token=operator)
    [newest] = log["entries"]
    assert (newest["action"], newest["actor"], newest["subject"]) == (
        "experiment.stopped", "op@lab.example", experiment["public_id"])
    status, older = await server.api("GET", f"/activity?limit=1&before={log['next_before']}", token=operator)
    assert [entry["action"] for entry in older["entries"]] == ["experiment.started"]
    status, filtered = await server.api("GET", "/activity?action=experiment.started", token=operator)
    assert [entry["details"] for entry in filtered["entries"]] == [{"name": "Run 7"}]


@pytest.mark.gen_test(timeout=120)
async def test_two_processes_raise_each_alarm_once_and_a_restart_mid_retry_delivers_it_once(database_url, tmp_path,
                                                                                           sql):
    """Both processes store readings over the line at the same moment: one alarm, one delivery. The
    receiver fails the first attempt; both processes stop and a new one starts: it delivers the rest."""
    from models.tokens import issue_token
    receiver = Receiver([500]).start()
    env = {"DATABASE_URL": database_url, "JWT_SECRET": TEST_SECRET, "WEBHOOK_BACKOFF": "2"}
    admin = issue_token(TEST_SECRET, "admin@lab.example", "admin", 600)
    controller_token = issue_token(TEST_SECRET, "ctl", "controller", 600)
    client = AsyncHTTPClient()

    async def call(base: str, method: str, path: str, body: dict) -> dict:
        response = await client.fetch(f"{base}/api/v1{path}", method=method, body=json.dumps(body),
                                      headers={"Authorization": f"Bearer {admin}"})
        return json.loads(response.body)

    try:
        with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
                serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
            await call(a.base_url, "POST", "/webhooks", {"url": receiver.url, "secret": SECRET,
                                                         "kinds": ["alarm.raised"]})
            await call(a.base_url, "POST", "/rules", {"name": "Too hot", "event_public_id": "evt_temp01",
                                                      "condition": "above", "threshold": 50})
            await asyncio.sleep(0.5)  # both processes have heard of the rule
            peers = [Peer(await websocket_connect(f"ws://127.0.0.1:{port}/ws/controller/telemetry"
                                                  f"?token={controller_token}")) for port in (a.port, b.port)]
            for peer in peers:
                peer.send({"seq": 1, "datapoints": readings(*[60.0 + n for n in range(50)])})
            for peer in peers:
                assert (await peer.receive())["type"] == "ack"
            deadline = time.monotonic() + 10
            while not receiver.received:
                assert time.monotonic() < deadline, "no delivery attempt"
                await asyncio.sleep(0.05)
        # Both processes stopped after the first attempt failed, before the retry (2 s later).
        assert len(receiver.received) == 1
        with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "c")}):
            deadline = time.monotonic() + 15
            while not receiver.answered(200):
                assert time.monotonic() < deadline, "the delivery was not resumed"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
    finally:
        receiver.stop()
    with sql.cursor() as cur:
        cur.execute("SELECT count(*), sum(count) FROM alarms")
        assert cur.fetchone() == (1, 100)  # one alarm, every reading over the line counted
        cur.execute("SELECT count(*), min(status), min(attempts) FROM webhook_deliveries")
        assert cur.fetchone() == (1, "delivered", 2)
    assert len(receiver.answered(200)) == 1 and len(receiver.received) == 2
    assert len({request[0]["X-Webmacs-Delivery"] for request in receiver.received}) == 1


@pytest.mark.gen_test(timeout=30)
async def test_webhooks_hear_of_experiments_and_of_controllers_connecting_and_going_once_each(server):
    receiver = Receiver().start()
    try:
        await add_webhook(server, receiver.url, ["experiment.started", "experiment.stopped",
                                                 "controller.connected", "controller.disconnected"])
        status, experiment = await server.api("POST", "/experiments", {"name": "Run 8"}, token=server.token(**OPERATOR))
        assert status == 201
        status, registered = await server.api("POST", "/controllers", {"name": "Rig"}, token=server.token(**ADMIN))
        assert status == 201
        first = await server.connect_controller(token=registered["access_token"])
        second = await server.connect_controller(token=registered["access_token"])  # the same controller twice
        await server.wait_for(lambda: len(receiver.received) == 2)
        first.close()
        second.close()
        await server.wait_for(lambda: len(receiver.received) == 3)
        await asyncio.sleep(1.5)  # nothing more: one connected and one disconnected, however many sockets
        bodies = {body["kind"]: body for body in (verified(request) for request in receiver.received)}
        assert sorted(bodies) == ["controller.connected", "controller.disconnected", "experiment.started"]
        assert bodies["experiment.started"]["experiment"]["public_id"] == experiment["public_id"]
        assert bodies["controller.connected"]["controller"]["public_id"] == registered["public_id"]
    finally:
        receiver.stop()
