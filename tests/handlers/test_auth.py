"""Accounts and tokens over HTTP: login, me, logout (revocation reaches WebSockets), minting tokens."""

from __future__ import annotations

import pytest

from tests.helpers import SPEC_READING, USER_PASSWORD


@pytest.fixture
def accounts(server):
    for email, role in (("admin@lab.example", "admin"), ("op@lab.example", "operator"),
                        ("viewer@lab.example", "viewer")):
        server.add_user(email, role)
    return server


async def login(server, email="admin@lab.example", password=USER_PASSWORD):
    return await server.api("POST", "/auth/login", {"email": email, "password": password})


@pytest.mark.gen_test
async def test_login_returns_a_bearer_token_that_identifies_the_user(accounts):
    status, body = await login(accounts, email="  Op@Lab.Example ")
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["email"] == "op@lab.example" and body["user"]["role"] == "operator"
    status, me = await accounts.api("GET", "/auth/me", token=body["access_token"])
    assert status == 200 and me["subject"] == "op@lab.example" and me["role"] == "operator"


@pytest.mark.gen_test
async def test_wrong_email_and_wrong_password_look_the_same(accounts):
    wrong_password = await login(accounts, password="nope")
    wrong_email = await login(accounts, email="nobody@lab.example")
    assert wrong_password == wrong_email
    assert wrong_password[0] == 401
    assert wrong_password[1] == {"error": {"code": 401, "message": "wrong email or password", "details": {}}}


@pytest.mark.gen_test(timeout=60)
async def test_repeated_failures_are_refused_for_a_while(accounts):
    for _ in range(5):
        assert (await login(accounts, password="guess"))[0] == 401
    status, body = await login(accounts)  # even the right password waits now
    assert status == 429 and body["error"]["code"] == 429


@pytest.mark.parametrize("body, field", [
    ("not json", None), ({"email": "admin@lab.example"}, "password"), ({"email": 5, "password": "x"}, "email"),
])
@pytest.mark.gen_test
async def test_malformed_login_is_a_400_naming_the_field(accounts, body, field):
    status, answer = await accounts.api("POST", "/auth/login", body)
    assert status == 400 and answer["error"]["code"] == 400
    if field:
        assert field in answer["error"]["details"]


@pytest.mark.parametrize("token", [None, "garbage"])
@pytest.mark.gen_test
async def test_api_without_a_valid_token_is_401_in_json(accounts, token):
    status, body = await accounts.api("GET", "/auth/me", token=token)
    assert status == 401 and set(body["error"]) == {"code", "message", "details"}


@pytest.mark.gen_test
async def test_logout_revokes_the_token_everywhere_websockets_included(accounts):
    token = (await login(accounts))[1]["access_token"]
    assert (await accounts.api("POST", "/auth/logout", token=token))[0] == 204
    status, body = await accounts.api("GET", "/auth/me", token=token)
    assert status == 401 and body["error"]["message"] == "token revoked"
    controller = await accounts.connect_controller(token=token)
    controller.send(SPEC_READING)
    assert await controller.closed() == (1008, "token revoked")
    assert accounts.rows() == []


@pytest.mark.gen_test
async def test_logout_closes_open_sockets_of_that_token(accounts):
    token = (await login(accounts))[1]["access_token"]
    controller = await accounts.connect_controller(token=token)
    await accounts.api("POST", "/auth/logout", token=token)
    assert await controller.closed() == (1008, "token revoked")


@pytest.mark.parametrize("role, status", [("operator", 403), ("viewer", 403)])
@pytest.mark.gen_test
async def test_only_admins_mint_tokens(accounts, role, status):
    token = (await login(accounts, email=f"{'op' if role == 'operator' else role}@lab.example"))[1]["access_token"]
    answer = await accounts.api("POST", "/tokens", {"subject": "ctl-2"}, token=token)
    assert answer[0] == status and answer[1]["error"]["code"] == status


@pytest.mark.gen_test
async def test_admin_mints_a_controller_token_that_can_publish(accounts):
    admin = (await login(accounts))[1]["access_token"]
    status, minted = await accounts.api("POST", "/tokens", {"subject": "ctl-2", "role": "controller", "ttl": "1h"},
                                        token=admin)
    assert status == 201 and minted["expires_in"] == 3600
    controller = await accounts.connect_controller(token=minted["access_token"])
    controller.send({**SPEC_READING, "seq": 1})
    assert (await controller.receive())["type"] == "ack"


@pytest.mark.gen_test
async def test_controller_tokens_cannot_use_the_user_api(accounts):
    status, body = await accounts.api("GET", "/auth/me", token=accounts.token(role="controller"))
    assert status == 200 and body["role"] == "controller"
    status, body = await accounts.api("POST", "/tokens", {"subject": "x"}, token=accounts.token(role="controller"))
    assert status == 403


@pytest.mark.settings(stream_require_token=True)
@pytest.mark.gen_test
async def test_a_deleted_user_s_token_stops_working_at_once(accounts):
    token = (await login(accounts, email="op@lab.example"))[1]["access_token"]
    assert (await accounts.api("GET", "/auth/me", token=token))[0] == 200
    accounts.execute("DELETE FROM users WHERE email = 'op@lab.example'")
    status, body = await accounts.api("GET", "/auth/me", token=token)
    assert status == 401 and body["error"]["message"] == "the token's user no longer exists"
    stream = await accounts.connect("/ws/datapoints/stream?token=" + token)
    assert await stream.closed() == (1008, "the token's user no longer exists")


@pytest.mark.gen_test
async def test_a_user_whose_role_changed_must_sign_in_again(accounts):
    token = (await login(accounts, email="op@lab.example"))[1]["access_token"]
    accounts.execute("UPDATE users SET role = 'viewer' WHERE email = 'op@lab.example'")
    status, body = await accounts.api("POST", "/experiments", {"name": "run"}, token=token)
    assert status == 401 and "another role" in body["error"]["message"]
    fresh = (await login(accounts, email="op@lab.example"))[1]["access_token"]
    assert (await accounts.api("POST", "/experiments", {"name": "run"}, token=fresh))[0] == 403


@pytest.mark.gen_test
async def test_minted_tokens_belong_to_no_account_and_keep_working(accounts):
    """Tokens from /tokens or `app.py token` name a subject, not an account: deleting users leaves them be."""
    admin = (await login(accounts))[1]["access_token"]
    minted = (await accounts.api("POST", "/tokens", {"subject": "ctl-7"}, token=admin))[1]["access_token"]
    accounts.execute("DELETE FROM users")
    controller = await accounts.connect_controller(token=minted)
    controller.send({**SPEC_READING, "seq": 1})
    assert (await controller.receive())["type"] == "ack"
