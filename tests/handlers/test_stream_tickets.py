"""Browsers open the stream with a ticket, never their token: a ticket lives seconds, opens one socket, and
that socket ends with the session that asked for it (logout, revocation, expiry)."""

from __future__ import annotations

import pytest

from models.tokens import issue_token
from tests.helpers import TEST_SECRET, USER_PASSWORD


async def ticket_for(server, token: str) -> str:
    status, answer = await server.api("POST", "/stream-ticket", token=token)
    assert status == 201 and answer["expires_in"] == 30, answer
    return answer["ticket"]


async def signed_in(server) -> str:
    server.add_user("ann@lab.example", "viewer")
    status, answer = await server.api("POST", "/auth/login", {"email": "ann@lab.example", "password": USER_PASSWORD})
    assert status == 200
    return answer["access_token"]


@pytest.mark.gen_test
@pytest.mark.settings(stream_require_token=True)
async def test_a_ticket_opens_the_stream_once_and_logging_out_closes_it(server):
    token = await signed_in(server)
    ticket = await ticket_for(server, token)
    stream = await server.connect_stream(f"?ticket={ticket}")
    again = await server.connect("/ws/datapoints/stream?ticket=" + ticket)
    assert await again.closed() == (1008, "stream ticket used already")

    status, _ = await server.api("POST", "/auth/logout", token=token)
    assert status == 204
    assert (await stream.closed())[0] == 1008
    await server.wait_for(lambda: server.subscribers() == 0)
    assert (await server.api("POST", "/stream-ticket", token=token))[0] == 401  # none for a logged-out token
    await server.connect_stream(f"?ticket={await ticket_for(server, server.token(role='viewer'))}")
    assert server.subscribers() == 1  # another session's fresh ticket still opens it


@pytest.mark.gen_test
async def test_a_ticket_is_no_token_and_a_token_is_no_ticket(server):
    ticket = await ticket_for(server, server.token(role="admin", subject="a@lab.example"))
    assert (await server.api("GET", "/events", token=ticket))[0] == 401
    controller = await server.connect("/ws/controller/telemetry?token=" + ticket)
    assert await controller.closed() == (1008, "a stream ticket opens the stream only")
    plain = await server.connect("/ws/datapoints/stream?ticket=" + server.token())
    assert await plain.closed() == (1008, "not a stream ticket")


@pytest.mark.gen_test(timeout=15)
async def test_a_socket_closes_when_the_session_that_opened_it_expires(server):
    short = issue_token(TEST_SECRET, "brief@lab.example", "viewer", 2)
    stream = await server.connect_stream(f"?ticket={await ticket_for(server, short)}")
    assert await stream.closed(timeout=5) == (1008, "token expired")
    controller = await server.connect_controller(token=issue_token(TEST_SECRET, "ctl", "controller", 2))
    assert await controller.closed(timeout=5) == (1008, "token expired")
