"""/api/v1/datapoints: the polling fallback (a cursor without gaps), pages, latest, HTTP ingest."""

from __future__ import annotations

import psycopg2
import pytest

from tests.helpers import SPEC_READING, STREAM_FIELDS, spec_shape


def reading(value: float, event: str = "evt_temp01", second: int = 10) -> dict:
    return {"event_public_id": event, "value": value, "timestamp": f"2025-01-15T14:32:{second:02d}.000Z"}


async def ingest(server, *batches: list[dict]) -> list[str]:
    """Send batches over the controller WebSocket; the public ids, once all are committed."""
    controller = await server.connect_controller()
    public_ids = []
    for seq, batch in enumerate(batches):
        controller.send({"seq": seq, "datapoints": batch})
        public_ids += (await controller.receive())["public_ids"]
    controller.close()
    return public_ids


async def poll_all(server, token: str, cursor: str = "0", limit: int = 2) -> tuple[list[dict], str]:
    seen = []
    while True:
        status, body = await server.api("GET", f"/datapoints?after={cursor}&limit={limit}", token=token)
        assert status == 200, body
        seen += body["data"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return seen, cursor


@pytest.mark.gen_test
async def test_polling_from_the_start_sees_every_datapoint_once_in_ingest_order(server):
    viewer = server.token(role="viewer")
    stored = await ingest(server, [reading(1), reading(2)], [reading(3)], [reading(4), reading(5)])
    seen, cursor = await poll_all(server, viewer)
    assert [d["public_id"] for d in seen] == stored
    assert [d["value"] for d in seen] == [1, 2, 3, 4, 5]
    assert all(set(d) == STREAM_FIELDS for d in seen)  # the stream's shape, cursor included

    more = await ingest(server, [reading(6)])
    again, _ = await poll_all(server, viewer, cursor)
    assert [d["public_id"] for d in again] == more


@pytest.mark.gen_test
async def test_a_datapoint_committed_late_by_an_older_transaction_is_not_skipped(server):
    """Ids are taken before commit: the trap that makes 'WHERE id > last_id' lose datapoints."""
    viewer = server.token(role="viewer")
    stream = await server.connect_stream()
    slow = psycopg2.connect(server.sql.dsn)  # another writer, holding its transaction open
    try:
        with slow.cursor() as cur:
            cur.execute("INSERT INTO datapoints (event_id, value, recorded_at)"
                        " SELECT id, 99, now() FROM events WHERE public_id = 'evt_temp01' RETURNING 'dp_' || id")
            [(late,)] = cur.fetchall()
        fast = await ingest(server, [reading(1)])  # commits first, with the larger id
        streamed_cursor = (await stream.receive())["cursor"]

        seen, cursor = await poll_all(server, viewer)
        assert seen == []  # the fast one waits until nothing older can still appear

        slow.commit()
    finally:
        slow.close()
    seen, cursor = await poll_all(server, viewer, cursor)
    assert [d["public_id"] for d in seen] == [late, *fast]
    # A stream client switching to polling from the cursor it was given misses nothing either.
    switched, _ = await poll_all(server, viewer, streamed_cursor)
    assert {late, *fast} <= {d["public_id"] for d in switched}
    assert (await poll_all(server, viewer, cursor))[0] == []


@pytest.mark.gen_test
async def test_pages_are_newest_first_with_total_and_filters(server):
    viewer = server.token(role="viewer")
    await ingest(server, [reading(i, second=i) for i in range(5)] + [reading(50, "evt_press01", 30)])
    status, body = await server.api("GET", "/datapoints?page=1&page_size=2", token=viewer)
    assert status == 200
    assert (body["page"], body["page_size"], body["total"]) == (1, 2, 6)
    assert [d["value"] for d in body["data"]] == [50, 4]
    status, body = await server.api("GET", "/datapoints?page=2&page_size=2&event_public_id=evt_temp01", token=viewer)
    assert body["total"] == 5 and [d["value"] for d in body["data"]] == [2, 1]
    status, body = await server.api(
        "GET", "/datapoints?from=2025-01-15T14:32:01Z&to=2025-01-15T14:32:03.000%2B00:00", token=viewer)
    assert [d["value"] for d in body["data"]] == [3, 2, 1]


async def walk_pages(server, token: str, query: str) -> list[dict]:
    """Every page of the list, following next_before."""
    rows, before = [], None
    while True:
        suffix = f"&before={before}" if before else ""
        status, body = await server.api("GET", f"/datapoints?{query}{suffix}", token=token)
        assert status == 200, body
        rows += body["data"]
        before = body["next_before"]
        if before is None:
            return rows


@pytest.mark.gen_test(timeout=60)
async def test_keyset_paging_visits_every_row_once_newest_first_under_any_filter(server):
    viewer = server.token(role="viewer")
    # Ties on purpose: several readings at the same instant, across events and batches.
    batches = [[reading(float(i), "evt_temp01" if i % 3 else "evt_press01", second=i % 7) for i in range(n, n + 40)]
               for n in range(0, 120, 40)]
    await ingest(server, *batches)
    stored = {row["public_id"]: row for row in server.rows()}
    for query, wanted in (("page_size=7", set(stored)),
                          ("page_size=5&event_public_id=evt_press01",
                           {p for p, row in stored.items() if row["event_public_id"] == "evt_press01"}),
                          ("page_size=4&from=2025-01-15T14:32:02Z&to=2025-01-15T14:32:04Z",
                           {p for p, row in stored.items() if "14:32:02" <= row["timestamp"][11:19] <= "14:32:04"})):
        rows = await walk_pages(server, viewer, query)
        ids = [row["public_id"] for row in rows]
        assert len(ids) == len(set(ids)) and set(ids) == wanted, query
        moments = [row["timestamp"] for row in rows]
        assert moments == sorted(moments, reverse=True), query


@pytest.mark.gen_test(timeout=60)
async def test_total_is_exact_up_to_its_bound_and_says_when_it_is_only_a_lower_bound(server):
    viewer = server.token(role="viewer")
    server.execute("INSERT INTO datapoints (event_id, value, recorded_at)"
                   " SELECT (SELECT id FROM events WHERE public_id = 'evt_temp01'), n,"
                   " timestamptz '2025-01-01' + n * interval '1 second' FROM generate_series(1, 10050) n")
    status, body = await server.api("GET", "/datapoints?page_size=10", token=viewer)
    assert (body["total"], body["total_is_lower_bound"]) == (10_000, True)
    status, body = await server.api("GET", "/datapoints?page_size=10&event_public_id=evt_press01", token=viewer)
    assert (body["total"], body["total_is_lower_bound"], body["next_before"]) == (0, False, None)
    status, body = await server.api("GET", "/datapoints?page=1001&page_size=10", token=viewer)
    assert status == 400 and "before=" in body["error"]["details"]["page"]
    status, body = await server.api("GET", "/datapoints?page=2&before=1_1", token=viewer)
    assert status == 400 and "before" in body["error"]["details"]


@pytest.mark.parametrize("query, field", [("page_size=0", "page_size"), ("page_size=1001", "page_size"),
                                          ("before=yesterday", "before"), ("before=1-2", "before"),
                                          ("page=x", "page"), ("page=%C2%B2", "page"), ("after=abc", "after"),
                                          ("after=24626378420312965586-1", "after"), ("after=1-%C2%B2", "after"),
                                          ("after=9223372036854775808", "after"),
                                          ("from=yesterday", "from"),
                                          ("after=0&limit=5000", "limit")])
@pytest.mark.gen_test
async def test_bad_listing_arguments_are_a_400_naming_them(server, query, field):
    status, body = await server.api("GET", f"/datapoints?{query}", token=server.token(role="viewer"))
    assert status == 400 and field in body["error"]["details"]


@pytest.mark.gen_test
async def test_latest_gives_the_newest_value_of_each_event(server):
    await ingest(server, [reading(1, second=1), reading(3, second=3), reading(2, second=2),
                          reading(7, "evt_press01", 5)])
    status, body = await server.api("GET", "/datapoints/latest", token=server.token(role="viewer"))
    assert status == 200
    assert [(d["event_public_id"], d["value"]) for d in body["data"]] == [("evt_press01", 7), ("evt_temp01", 3)]


@pytest.mark.gen_test
async def test_post_stores_and_broadcasts_like_the_websocket(server):
    stream = await server.connect_stream()
    status, body = await server.api("POST", "/datapoints", SPEC_READING, token=server.token(role="operator"))
    assert status == 201 and body["errors"] == {}
    [created] = body["data"]
    assert spec_shape(await stream.receive()) == spec_shape(created)
    assert server.rows() == [spec_shape(created)]


@pytest.mark.gen_test
async def test_post_batch_keeps_the_valid_readings_and_names_the_others(server):
    status, body = await server.api(
        "POST", "/datapoints", {"datapoints": [SPEC_READING, {**SPEC_READING, "value": "hot"},
                                               {**SPEC_READING, "event_public_id": "evt_nope"}]},
        token=server.token(role="controller"))
    assert status == 201 and len(body["data"]) == 1
    assert set(body["errors"]) == {"datapoints[1].value", "datapoints[2].event_public_id"}


@pytest.mark.parametrize("payload", ["{oops", {"event_public_id": "evt_temp01"}, {"datapoints": [{}] * 501}])
@pytest.mark.gen_test
async def test_post_with_nothing_storable_is_a_400_and_stores_nothing(server, payload):
    status, body = await server.api("POST", "/datapoints", payload, token=server.token(role="admin"))
    assert status == 400 and body["error"]["code"] == 400
    assert server.rows() == []


@pytest.mark.gen_test
async def test_get_and_delete_one_datapoint(server):
    [public_id] = await ingest(server, [reading(1)])
    viewer, operator = server.token(role="viewer"), server.token(role="operator")
    status, body = await server.api("GET", f"/datapoints/{public_id}", token=viewer)
    assert status == 200 and body["public_id"] == public_id and body["value"] == 1
    assert (await server.api("DELETE", f"/datapoints/{public_id}", token=viewer))[0] == 403
    assert (await server.api("DELETE", f"/datapoints/{public_id}", token=operator))[0] == 204
    status, body = await server.api("GET", f"/datapoints/{public_id}", token=viewer)
    assert status == 404 and body["error"]["code"] == 404
    assert (await server.api("DELETE", f"/datapoints/{public_id}", token=operator))[0] == 404


@pytest.mark.parametrize("role, method, path, status", [
    ("viewer", "POST", "/datapoints", 403),
    ("controller", "GET", "/datapoints", 403),
    ("controller", "GET", "/datapoints/latest", 403),
])
@pytest.mark.gen_test
async def test_roles_on_datapoints(server, role, method, path, status):
    body = SPEC_READING if method == "POST" else None
    assert (await server.api(method, path, body, token=server.token(role=role)))[0] == status


@pytest.mark.settings(max_message_size=2048)
@pytest.mark.gen_test
async def test_too_large_body_is_413_in_json(server):
    status, body = await server.api("POST", "/datapoints", {"datapoints": [SPEC_READING] * 40},
                                    token=server.token(role="admin"))
    assert status == 413 and body["error"]["code"] == 413
    assert server.rows() == []


@pytest.mark.parametrize("method, path, status", [("GET", "/nothing-here", 404), ("PATCH", "/datapoints", 405)])
@pytest.mark.gen_test
async def test_unknown_paths_and_methods_answer_in_json(server, method, path, status):
    answer = await server.api(method, path, {} if method == "PATCH" else None, token=server.token(role="admin"))
    assert answer[0] == status and answer[1]["error"]["code"] == status


@pytest.mark.gen_test(timeout=60)
async def test_a_poller_sees_every_datapoint_exactly_once_while_several_controllers_ingest(server):
    import asyncio
    viewer = server.token(role="viewer")
    seen: list[str] = []
    cursor, done = "0", False

    async def poll_until_done() -> None:
        nonlocal cursor
        while True:
            finished = done  # read before polling: a last round runs after the writers stop
            batch, cursor = await poll_all(server, viewer, cursor, limit=50)
            seen.extend(d["public_id"] for d in batch)
            if finished:
                return

    poller = asyncio.ensure_future(poll_until_done())
    stored = await asyncio.gather(*(ingest(server, *[[reading(w * 1000 + i)] * 5 for i in range(20)])
                                    for w in range(4)))
    done = True
    await poller
    assert len(seen) == len(set(seen)) == 400
    assert set(seen) == {public_id for ids in stored for public_id in ids}


@pytest.mark.gen_test
async def test_export_of_a_selection_streams_exactly_the_filtered_rows_oldest_first(server):
    admin = server.token(role="admin")
    await ingest(server, [reading(float(i), second=i) for i in range(6)])
    await server.api("POST", "/experiments", {"name": "Run", "public_id": "exp_run"}, token=admin)
    await ingest(server, [reading(7.0, "evt_press01", 20), reading(8.0, second=21)])
    response = await server.http.fetch(
        server.url("/api/v1/datapoints/export.csv?event_public_id=evt_temp01&from=2025-01-15T14:32:02Z", "http"),
        headers={"Authorization": f"Bearer {admin}"})
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = response.body.decode().splitlines()
    # Stored with a token from `app.py token`: by nobody the server knows, so stored_by is empty.
    assert lines == ["timestamp,event,value,unit,experiment,stored_by",
                     *[f"2025-01-15T14:32:{s:02d}.000Z,evt_temp01,{float(s)},°C,," for s in range(2, 6)],
                     "2025-01-15T14:32:21.000Z,evt_temp01,8.0,°C,exp_run,"]
    response = await server.http.fetch(server.url("/api/v1/datapoints/export.csv?experiment_public_id=exp_run",
                                                  "http"), headers={"Authorization": f"Bearer {admin}"})
    assert [line.split(",")[1] for line in response.body.decode().splitlines()[1:]] == ["evt_press01", "evt_temp01"]
