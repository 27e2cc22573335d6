"""/ws/controller/telemetry: readings in, stored, acked after commit, broadcast; bad input answered, not fatal."""

from __future__ import annotations

import re

import pytest

from models.ingest import unknown_event
from tests.helpers import SPEC_READING, STREAM_FIELDS, spec_shape


@pytest.mark.gen_test
async def test_spec_example_reaches_two_subscribers_in_spec_shape_and_is_stored(server):
    first, second = await server.connect_stream(), await server.connect_stream()
    await server.wait_for(lambda: server.subscribers() == 2)
    controller = await server.connect_controller()

    controller.send(SPEC_READING)

    seen = [await first.receive(), await second.receive()]
    assert seen[0] == seen[1]
    assert set(seen[0]) == STREAM_FIELDS
    assert seen[0]["public_id"].startswith("dp_")
    assert {k: seen[0][k] for k in SPEC_READING} == SPEC_READING
    assert seen[0]["experiment_public_id"] is None
    assert server.rows() == [spec_shape(seen[0])]


@pytest.mark.gen_test
async def test_datapoint_carries_the_running_experiment(server):
    server.execute("INSERT INTO experiments (public_id, name) VALUES ('exp_001', 'Run 1')")
    stream = await server.connect_stream()
    controller = await server.connect_controller()

    controller.send(SPEC_READING)

    assert (await stream.receive())["experiment_public_id"] == "exp_001"
    server.execute("UPDATE experiments SET stopped_at = now()")
    controller.send(SPEC_READING)
    assert (await stream.receive())["experiment_public_id"] is None


@pytest.mark.gen_test
async def test_batch_is_stored_in_order_and_each_reading_broadcast(server):
    stream = await server.connect_stream()
    controller = await server.connect_controller()
    batch = [{"event_public_id": "evt_temp01" if i % 2 else "evt_press01", "value": i,
              "timestamp": f"2025-01-15T14:32:{i:02d}.000Z"} for i in range(50)]

    controller.send({"datapoints": batch})

    received = await stream.receive_many(50)
    assert [(d["event_public_id"], d["value"], d["timestamp"]) for d in received] == \
           [(r["event_public_id"], float(r["value"]), r["timestamp"]) for r in batch]
    assert server.rows() == [spec_shape(d) for d in received]


@pytest.mark.gen_test
async def test_ack_names_stored_public_ids_and_comes_after_commit(server):
    stream = await server.connect_stream()
    controller = await server.connect_controller()

    controller.send({"seq": "batch-7", "datapoints": [SPEC_READING, SPEC_READING]})

    ack = await controller.receive()
    # The ack is sent only once the rows are committed: they are visible to another connection now.
    assert [row["public_id"] for row in server.rows()] == ack["public_ids"]
    assert ack == {"type": "ack", "seq": "batch-7", "public_ids": ack["public_ids"]}
    assert [d["public_id"] for d in await stream.receive_many(2)] == ack["public_ids"]


@pytest.mark.gen_test
async def test_single_reading_with_numeric_seq_is_acked(server):
    controller = await server.connect_controller()
    controller.send({**SPEC_READING, "seq": 41})
    ack = await controller.receive()
    assert ack["type"] == "ack" and ack["seq"] == 41
    assert ack["public_ids"] == [server.rows()[0]["public_id"]]


@pytest.mark.gen_test
async def test_without_seq_nothing_is_answered(server):
    stream = await server.connect_stream()
    controller = await server.connect_controller()
    controller.send(SPEC_READING)
    await stream.receive()
    assert await controller.nothing_within(0.2)


@pytest.mark.gen_test
async def test_missing_timestamp_means_server_time_and_offsets_become_utc(server):
    controller = await server.connect_controller()
    controller.send({"seq": 1, "datapoints": [
        {"event_public_id": "evt_temp01", "value": 1},
        {"event_public_id": "evt_temp01", "value": 2, "timestamp": "2025-01-15T16:32:10.123456+02:00"},
    ]})
    await controller.receive()
    now_row, offset_row = server.rows()
    assert offset_row["timestamp"] == "2025-01-15T14:32:10.123Z"
    with server.sql.cursor() as cur:
        cur.execute("SELECT now() - max(recorded_at) < interval '5 seconds' FROM datapoints WHERE value = 1")
        assert cur.fetchone()[0]


@pytest.mark.gen_test
async def test_unknown_event_is_rejected_not_created_and_the_rest_is_kept(server):
    stream = await server.connect_stream()
    controller = await server.connect_controller()

    controller.send({"seq": 3, "datapoints": [SPEC_READING, {**SPEC_READING, "event_public_id": "evt_nope"}]})

    error = await controller.receive()
    assert error["type"] == "error" and error["seq"] == 3
    assert error["errors"] == [{"index": 1, "field": "event_public_id", "message": unknown_event("evt_nope")}]
    ack = await controller.receive()
    assert ack["public_ids"][1] is None and ack["public_ids"][0].startswith("dp_")
    assert [row["event_public_id"] for row in server.rows()] == ["evt_temp01"]
    assert (await stream.receive())["public_id"] == ack["public_ids"][0]
    with server.sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE public_id = 'evt_nope'")
        assert cur.fetchone()[0] == 0


@pytest.mark.gen_test
async def test_single_unknown_event_gets_an_error_and_no_ack(server):
    controller = await server.connect_controller()
    controller.send({**SPEC_READING, "event_public_id": "evt_nope", "seq": 9})
    error = await controller.receive()
    assert error == {"type": "error", "message": unknown_event("evt_nope"), "seq": 9,
                     "errors": [{"field": "event_public_id", "message": unknown_event("evt_nope")}]}
    assert await controller.nothing_within(0.2)
    assert server.rows() == []


BAD_READINGS = [
    pytest.param({"value": 1.0}, "event_public_id", id="missing-event"),
    pytest.param({"event_public_id": 7, "value": 1.0}, "event_public_id", id="event-not-a-string"),
    pytest.param({"event_public_id": "evt\u0000temp", "value": 1.0}, "event_public_id", id="event-nul"),
    pytest.param({"event_public_id": "evt_temp01,evt_press01", "value": 1.0}, "event_public_id", id="event-comma"),
    pytest.param({"event_public_id": "e" * 65, "value": 1.0}, "event_public_id", id="event-too-long"),
    pytest.param({"event_public_id": "evt_temp01"}, "value", id="missing-value"),
    pytest.param({"event_public_id": "evt_temp01", "value": "23.4"}, "value", id="value-string"),
    pytest.param({"event_public_id": "evt_temp01", "value": True}, "value", id="value-boolean"),
    pytest.param({"event_public_id": "evt_temp01", "value": None}, "value", id="value-null"),
    pytest.param('{"event_public_id": "evt_temp01", "value": NaN}', "value", id="value-nan"),
    pytest.param('{"event_public_id": "evt_temp01", "value": Infinity}', "value", id="value-infinity"),
    pytest.param('{"event_public_id": "evt_temp01", "value": 1e999}', "value", id="value-overflow"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "yesterday"}, "timestamp", id="ts-garbage"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "2025-01-15T14:32:10"}, "timestamp",
                 id="ts-no-offset"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "1969-12-31T23:59:59Z"}, "timestamp",
                 id="ts-before-1970"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp",
                 id="ts-far-future"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": 1736951530}, "timestamp",
                 id="ts-number"),
    # Looks canonical, but Python's parser stops at the NUL, which PostgreSQL refuses.
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "2025-01-15T14:32:10.1Z\u0000Z"},
                 "timestamp", id="ts-hidden-nul"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "2025-01-15T14:32:10.000Z\u0000"},
                 "timestamp", id="ts-trailing-nul"),
    pytest.param({"event_public_id": "evt_temp01", "value": 1, "timestamp": "2025-01-15T14:32:1\u0660.000Z"},
                 "timestamp", id="ts-arabic-digit"),
    pytest.param('{"event_public_id": "evt_temp01", "value": 1, "timestamp": "2025-01-15T14:32:10.000Z\\ud800"}',
                 "timestamp", id="ts-lone-surrogate"),
]


@pytest.mark.parametrize("bad, field", BAD_READINGS)
@pytest.mark.gen_test
async def test_invalid_reading_in_a_batch_is_named_while_valid_ones_are_stored_and_broadcast(server, bad, field):
    import json
    stream = await server.connect_stream()
    controller = await server.connect_controller()
    bad_text = bad if isinstance(bad, str) else json.dumps(bad)

    controller.send(f'{{"seq": 5, "datapoints": [{json.dumps(SPEC_READING)}, {bad_text}]}}')

    error = await controller.receive()
    assert error["type"] == "error" and error["seq"] == 5
    assert error["message"] == "1 of 2 readings were not stored"
    [problem] = error["errors"]
    assert problem["index"] == 1 and problem["field"] == field and problem["message"]
    ack = await controller.receive()
    assert ack["public_ids"][0] and ack["public_ids"][1] is None
    assert (await stream.receive())["public_id"] == ack["public_ids"][0]
    assert [row["public_id"] for row in server.rows()] == [ack["public_ids"][0]]


BAD_FRAMES = [
    pytest.param("not json", "message is not valid JSON", id="not-json"),
    pytest.param("[1, 2]", "message must be a JSON object", id="array"),
    pytest.param('"hello"', "message must be a JSON object", id="string"),
    pytest.param('{"datapoints": {"event_public_id": "evt_temp01"}}', "datapoints must be a list",
                 id="datapoints-object"),
    pytest.param('{"seq": true, "event_public_id": "evt_temp01", "value": 1}', "seq must be a number or a string",
                 id="seq-boolean"),
    # A seq that cannot be echoed faithfully: refused before anything is stored, with a good value or a bad one.
    pytest.param('{"seq": "\\ud800", "event_public_id": "evt_temp01", "value": 1}', "seq must be a number or a string",
                 id="seq-lone-surrogate"),
    pytest.param('{"seq": "a\\udfffb", "event_public_id": "evt_temp01", "value": "x"}',
                 "seq must be a number or a string", id="seq-lone-surrogate-bad-value"),
    pytest.param(b'{"seq": "\xed\xa0\x80", "event_public_id": "evt_temp01", "value": 1}',
                 "seq must be a number or a string", id="seq-cesu8-binary-frame"),
]


@pytest.mark.parametrize("frame, message", BAD_FRAMES)
@pytest.mark.gen_test
async def test_unreadable_message_gets_an_error_and_the_connection_stays_up(server, frame, message):
    controller = await server.connect_controller()

    controller.conn.write_message(frame, binary=isinstance(frame, bytes))
    error = await controller.receive()
    assert error["type"] == "error" and error["message"].startswith(message)

    controller.send({**SPEC_READING, "seq": 1})
    assert (await controller.receive())["type"] == "ack"
    assert len(server.rows()) == 1


@pytest.mark.gen_test
async def test_batch_over_500_is_refused_whole_with_its_seq(server):
    controller = await server.connect_controller()
    controller.send({"seq": 12, "datapoints": [SPEC_READING] * 501})
    error = await controller.receive()
    assert error == {"type": "error", "seq": 12,
                     "message": "a batch holds at most 500 readings, this one has 501"}
    controller.send({"seq": 13, "datapoints": [SPEC_READING] * 500})
    assert len((await controller.receive())["public_ids"]) == 500
    assert len(server.rows()) == 500


@pytest.mark.settings(max_message_size=4096)
@pytest.mark.gen_test
async def test_message_over_the_size_limit_is_refused_by_tornado_with_1009(server):
    controller = await server.connect_controller()
    controller.send({"datapoints": [SPEC_READING] * 100})  # about 7 kB
    code, _ = await controller.closed()
    assert code == 1009
    assert server.rows() == []


def _valued(*values: float) -> list[dict]:
    return [{**SPEC_READING, "value": value} for value in values]


@pytest.mark.gen_test(timeout=60)
async def test_readings_the_database_refuses_fail_alone_and_cost_other_controllers_nothing(poisoned, caplog):
    server = poisoned
    stream = await server.connect_stream()
    clean = await server.connect_controller()
    dirty = await server.connect_controller(token=server.token(subject="ctl-dirty"))
    for seq in range(10):  # sent together, so their readings share statements
        clean.send({"seq": seq, "datapoints": _valued(*range(100, 200))})
        dirty.send({"seq": seq, "datapoints": _valued(1.0, 13.0, 2.0, 14.0, 15.0, 3.0)})

    for seq in range(10):
        ack = await clean.receive()
        assert ack["type"] == "ack" and ack["seq"] == seq and all(ack["public_ids"]), ack
    for seq in range(10):
        error = await dirty.receive()
        assert error["type"] == "error" and error["seq"] == seq and "retry" not in error, error
        assert [problem["index"] for problem in error["errors"]] == [1, 3, 4]
        assert all(problem["message"].startswith("the database refused this reading") for problem in error["errors"])
        ack = await dirty.receive()
        assert [bool(public_id) for public_id in ack["public_ids"]] == [True, False, True, False, False, True]

    rows = server.rows()
    assert len(rows) == 10 * 100 + 10 * 3 and not {13.0, 14.0, 15.0} & {row["value"] for row in rows}
    assert {d["public_id"] for d in await stream.receive_many(len(rows))} == {row["public_id"] for row in rows}
    shared = [int(count) for count in re.findall(r"readings from (\d+) submissions", caplog.text)]
    assert shared and max(shared) >= 2  # the poison did share statements with the clean controller's readings


@pytest.mark.gen_test
async def test_a_reading_the_database_refuses_over_http_is_a_400_naming_it_not_a_500(poisoned):
    server = poisoned
    token = server.token(role="operator", subject="op@lab.example")
    status, body = await server.api("POST", "/datapoints", {"datapoints": _valued(1.0, 14.0)}, token=token)
    assert status == 201 and list(body["errors"]) == ["datapoints[1].reading"] and len(body["data"]) == 1
    status, body = await server.api("POST", "/datapoints", _valued(13.0)[0], token=token)
    assert status == 400 and body["error"]["message"].startswith("the database refused this reading")
    assert len(server.rows()) == 1
