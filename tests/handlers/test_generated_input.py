"""Generated input through real sockets: telemetry batches mixing good and bad readings, and the HTTP API's JSON
bodies. Each test runs its examples against one server (the fixture), emptying what an example leaves behind."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from models import public_ids
from models.events import EVENT_TYPES
from models.roles import ROLES
from tests.helpers import SPEC_READING, USER_PASSWORD, Server
from tests.strategies import (
    ANY_TEXT,
    JSON_VALUES,
    KNOWN_EVENTS,
    NUMBERS,
    REPRODUCIBLE,
    SEQS,
    UNKNOWN_EVENTS,
    Item,
    batch_text,
    items,
    readings,
)

# One server for all examples of a test, on purpose: starting the app per example would cost seconds.
ON_ONE_SERVER = settings(REPRODUCIBLE,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
USER_EMAIL = "operator@lab.example"
API_ERROR_FIELDS = {"code", "message", "details"}

ARBITRARY_BODIES = st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=40), st.binary(max_size=40))
# Numbers a float column cannot take (beyond 2**1024, or not finite), and everything else JSON has.
UNFIT_NUMBERS = st.one_of(st.integers(2**1024 - 2**970, 10**400), st.sampled_from([-(10**309), 10**4000]),
                          st.floats(allow_nan=True, allow_infinity=True))


def run(io_loop: Any, exchange: Callable[[], Awaitable[Any]]) -> Any:
    return io_loop.run_sync(exchange, timeout=30)


def assert_json_answer(sent: Any, status: int, answer: Any, allowed: set[int]) -> None:
    """Never a 5xx; a 4xx is the API's error object. Failures name the body `sent`."""
    assert status < 500, f"{status} {answer} for {sent!r}"
    assert status in allowed, f"{status} {answer} for {sent!r}"
    if status >= 400:
        assert set(answer) == {"error"} and set(answer["error"]) == API_ERROR_FIELDS, answer
        assert answer["error"]["code"] == status and isinstance(answer["error"]["message"], str)
        assert answer["error"]["message"] and isinstance(answer["error"]["details"], dict)


@st.composite
def json_bodies(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> str | bytes:
    """Mostly a JSON object with these fields, each left out, of any JSON type, or drawn from its strategy
    (which makes values of the right type, good and bad), now and then with a stray field; else anything."""
    if draw(st.integers(0, 3)) == 0:
        return draw(ARBITRARY_BODIES)
    body = draw(st.dictionaries(ANY_TEXT.filter(lambda name: name not in fields), JSON_VALUES, max_size=1))
    for name, strategy in fields.items():
        choice = draw(st.integers(0, 5))
        if choice:
            body[name] = draw(JSON_VALUES if choice == 1 else strategy)
    return json.dumps(body)


def stored_as(row: dict[str, Any]) -> tuple[str, float, str]:
    return row["event_public_id"], row["value"], row["timestamp"]


# --- /ws/controller/telemetry ---

MIXED_BATCHES = st.lists(st.tuples(st.lists(items(), min_size=1, max_size=10), SEQS), min_size=1, max_size=3,
                         unique_by=lambda pair: json.dumps(pair[1]))
BUSY_BATCHES = st.lists(st.lists(readings().map(lambda f: Item(f.text(), f.expected, None)), min_size=1, max_size=8),
                        min_size=1, max_size=4)


@settings(ON_ONE_SERVER, max_examples=30)
@given(mixed_batches=MIXED_BATCHES, busy_batches=BUSY_BATCHES)
def test_generated_batches_store_exactly_their_valid_readings_while_another_controller_streams(
        server, io_loop, mixed_batches, busy_batches):
    server.execute("TRUNCATE datapoints")
    for batch, seq in mixed_batches:
        note(f"mixed batch: {batch_text(batch, seq)}")
    run(io_loop, lambda: _exchange(server, mixed_batches, busy_batches))


async def _exchange(server: Server, mixed_batches: list[tuple[list[Item], Any]],
                    busy_batches: list[list[Item]]) -> None:
    mixed, busy = await server.connect_controller(), await server.connect_controller()
    try:
        for n in range(max(len(mixed_batches), len(busy_batches))):
            if n < len(mixed_batches):
                mixed.send(batch_text(*mixed_batches[n]))
            if n < len(busy_batches):
                busy.send(batch_text(busy_batches[n], f"busy-{n}"))
        busy_acks = await busy.receive_many(len(busy_batches))
        # Per batch, an error frame if any item was bad, then an ack if any was stored. Batches with nothing
        # to store are answered at once, so the frames of different batches may come in another order.
        frame_count = sum(any(item.refused is not None for item in batch) + any(item.refused is None for item in batch)
                          for batch, _ in mixed_batches)
        frames: dict[str, list[dict[str, Any]]] = {}
        for frame in await mixed.receive_many(frame_count):
            frames.setdefault(json.dumps(frame["seq"]), []).append(frame)

        stored = {row["public_id"]: row for row in server.rows()}
        expected_count = 0
        for batch, seq in mixed_batches:
            expected_count += _check_answers(batch, seq, frames.pop(json.dumps(seq), []), stored)
        assert frames == {}, "frames for no batch"
        for n, (batch, ack) in enumerate(zip(busy_batches, busy_acks, strict=True)):
            assert ack == {"type": "ack", "seq": f"busy-{n}", "public_ids": ack["public_ids"]}
            assert [stored_as(stored[public_id]) for public_id in ack["public_ids"]] == [i.parsed for i in batch]
            expected_count += len(batch)
        assert len(stored) == expected_count, "stored more than the valid readings"

        # Still open, and nothing else was waiting to be said: the next frame answers the next message.
        mixed.send({**SPEC_READING, "seq": "still-open"})
        assert (await mixed.receive())["seq"] == "still-open"
    finally:
        mixed.close()
        busy.close()


def _check_answers(batch: list[Item], seq: Any, frames: list[dict[str, Any]], stored: dict[str, Any]) -> int:
    """Check one batch's error and ack frames and its stored rows; returns how many rows it stored."""
    bad = [(index, item.refused) for index, item in enumerate(batch) if item.refused is not None]
    good = [index for index, item in enumerate(batch) if item.refused is None]
    assert [frame["type"] for frame in frames] == ["error"] * bool(bad) + ["ack"] * bool(good), frames
    if bad:
        error = frames[0]
        assert error["seq"] == seq and error["message"] == f"{len(bad)} of {len(batch)} readings were not stored"
        assert [(problem["index"], problem["field"]) for problem in error["errors"]] == bad, error
    if good:
        ack = frames[-1]
        assert ack["seq"] == seq and len(ack["public_ids"]) == len(batch)
        assert [index for index, public_id in enumerate(ack["public_ids"]) if public_id] == good, ack
        for index in good:
            row = stored[ack["public_ids"][index]]
            assert stored_as(row) == batch[index].parsed and row["experiment_public_id"] is None
    return len(good)


# --- POST /api/v1/datapoints ---

# (body, its items or None if it is not made of them, whether it is a single reading)
DATAPOINT_BODIES = st.one_of(
    ARBITRARY_BODIES.map(lambda body: (body, None, False)),
    st.lists(items(), max_size=10).map(lambda batch: (batch_text(batch, has_seq=False), batch, False)),
    items().filter(lambda item: item.refused != "").map(lambda item: (item.text, [item], True)),
)


@settings(ON_ONE_SERVER, max_examples=40)
@given(generated=DATAPOINT_BODIES)
def test_posted_datapoints_store_exactly_the_valid_readings_and_answer_in_json(server, io_loop, generated):
    body, batch, single = generated
    note(f"body: {body!r}")
    server.execute("TRUNCATE datapoints")
    status, answer = run(io_loop, lambda: server.api("POST", "/datapoints", body, token=server.token()))

    assert_json_answer(body, status, answer, {201, 400})
    rows = server.rows()
    if status == 400:
        assert rows == []
    else:
        assert [{**row, "cursor": datapoint["cursor"]} for row, datapoint in zip(rows, answer["data"], strict=True)] \
               == answer["data"]
    if batch is None:
        return
    problems = {("" if single else f"datapoints[{index}].") + (item.refused or "reading")
                for index, item in enumerate(batch) if item.refused is not None}
    assert [stored_as(row) for row in rows] == [item.parsed for item in batch if item.refused is None]
    assert set(answer["errors"] if status == 201 else answer["error"]["details"]) == problems


# --- the other JSON bodies ---

BOUNDS = st.one_of(st.none(), NUMBERS, UNFIT_NUMBERS)
EVENT_FIELDS = {
    "name": st.one_of(st.sampled_from(["Inlet", " ", ""]), ANY_TEXT, st.text(min_size=195, max_size=205)),
    "public_id": st.one_of(UNKNOWN_EVENTS, st.sampled_from(KNOWN_EVENTS), ANY_TEXT),
    "type": st.one_of(st.sampled_from(EVENT_TYPES), ANY_TEXT),
    "unit": st.one_of(st.text(max_size=40), ANY_TEXT),
    "min_value": BOUNDS,
    "max_value": BOUNDS,
}


# A whole number beyond the largest float: JSON allows it, and Python parses it as an int, not as inf.
BEYOND_FLOAT = json.dumps({"name": "Inlet", "min_value": 10**400})


@settings(ON_ONE_SERVER, max_examples=40)
@given(body=json_bodies(EVENT_FIELDS))
@example(body=BEYOND_FLOAT)
def test_any_body_posted_to_events_gets_a_json_answer_never_a_5xx(server, io_loop, body):
    status, answer = run(io_loop, lambda: server.api("POST", "/events", body, token=_admin(server)))
    assert_json_answer(body, status, answer, {201, 400, 409})


@settings(ON_ONE_SERVER, max_examples=40)
@given(body=json_bodies(EVENT_FIELDS))
@example(body=BEYOND_FLOAT)
def test_any_body_put_to_an_event_gets_a_json_answer_never_a_5xx(server, io_loop, body):
    status, answer = run(io_loop, lambda: server.api("PUT", "/events/evt_temp01", body, token=_admin(server)))
    assert_json_answer(body, status, answer, {200, 400})


EXPERIMENT_FIELDS = {
    "name": EVENT_FIELDS["name"],
    "public_id": st.one_of(st.from_regex(r"exp_[a-z0-9]{1,6}", fullmatch=True), ANY_TEXT),
}


@settings(ON_ONE_SERVER, max_examples=30)
@given(body=json_bodies(EXPERIMENT_FIELDS))
def test_any_body_posted_to_experiments_gets_a_json_answer_never_a_5xx(server, io_loop, body):
    server.execute("DELETE FROM experiments")  # else every example after the first is a 409: one runs
    status, answer = run(io_loop, lambda: server.api("POST", "/experiments", body, token=_admin(server)))
    assert_json_answer(body, status, answer, {201, 400, 409})


LOGIN_FIELDS = {
    "email": st.one_of(st.sampled_from([USER_EMAIL, USER_EMAIL.upper(), f" {USER_EMAIL} ", ""]), ANY_TEXT),
    "password": st.one_of(st.just(USER_PASSWORD), ANY_TEXT),
}


@settings(ON_ONE_SERVER, max_examples=25)
@given(body=json_bodies(LOGIN_FIELDS))
def test_any_body_posted_to_login_gets_a_json_answer_never_a_5xx(server, io_loop, body):
    server.execute("DELETE FROM users")  # the fixture empties the tables once per test, not per example
    server.add_user(USER_EMAIL, "operator")
    # Forget earlier failures, so that examples reach the body checks rather than the throttle.
    server.app.login_throttle.succeeded("127.0.0.1")
    status, answer = run(io_loop, lambda: server.api("POST", "/auth/login", body))
    assert_json_answer(body, status, answer, {200, 400, 401, 429})


TOKEN_FIELDS = {
    "subject": st.one_of(st.just("ctl-7"), ANY_TEXT),
    "role": st.one_of(st.sampled_from(ROLES), ANY_TEXT),
    "ttl": st.one_of(st.integers(), st.from_regex(r"[0-9]{1,30}[smhd]?", fullmatch=True), ANY_TEXT),
}


@settings(ON_ONE_SERVER, max_examples=40)
@given(body=json_bodies(TOKEN_FIELDS))
@example(body=json.dumps({"subject": "ctl-7", "ttl": 10**13}))  # expires beyond PostgreSQL's last timestamp
def test_any_body_posted_to_tokens_gets_a_json_answer_and_a_minted_token_works(server, io_loop, body):
    status, answer = run(io_loop, lambda: server.api("POST", "/tokens", body, token=_admin(server)))
    assert_json_answer(body, status, answer, {201, 400})
    if status == 201:
        note(f"minted: {answer}")
        token = answer["access_token"]
        status, me = run(io_loop, lambda: server.api("GET", "/auth/me", token=token))
        assert status == 200, me
        assert (me["subject"], me["role"]) == (answer["subject"], answer["role"])
        status, answer = run(io_loop, lambda: server.api("POST", "/auth/logout", token=token))
        assert status == 204, answer


def _admin(server: Server) -> str:
    return server.token(role="admin", subject="admin@lab.example")


# --- event ids ---

# Besides ids drawn from the rule, words some layer between the API and the table could read as something
# else: SQL's and JSON's literals, numbers, lone punctuation.
EVENT_IDS = st.one_of(st.from_regex(public_ids.PUBLIC_ID.pattern.removesuffix("\\Z"), fullmatch=True),
                      st.sampled_from(["NULL", "null", "Null", "true", "false", "NaN", "Infinity", "-1", "1e999",
                                       "0x1F", "-", ".", "..", ":", "_"]))


@settings(ON_ONE_SERVER, max_examples=30)
@given(event=EVENT_IDS)
@example(event="null")  # PostgreSQL's array input reads an unquoted NULL, in any case, as a null
def test_an_event_the_api_creates_under_any_valid_id_can_receive_readings(server, io_loop, event):
    server.execute("TRUNCATE datapoints")
    server.execute("DELETE FROM events WHERE public_id <> ALL(%s)", list(KNOWN_EVENTS))
    reading = {**SPEC_READING, "event_public_id": event}

    async def create_and_send() -> tuple[int, Any]:
        status, created = await server.api("POST", "/events", {"name": "Generated", "public_id": event},
                                           token=_admin(server))
        assert status in (201, 409), created  # 409: one of the two every test has
        return await server.api("POST", "/datapoints", reading, token=server.token())

    status, answer = run(io_loop, create_and_send)
    assert status == 201, f"a reading for event {event!r} was refused: {answer}"
    assert [stored_as(row) for row in server.rows()] == [(event, reading["value"], reading["timestamp"])]
