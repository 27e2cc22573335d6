"""Users managed from the API and the command line: one-time passwords changed at the first sign-in, role
changes and deletions that end the user's sessions (their sockets too), and always one admin left."""

from __future__ import annotations

import json

import pytest

from tests.helpers import USER_PASSWORD, run_app

ADMIN = {"role": "admin", "subject": "root@lab.example"}


async def login(server, email: str, password: str) -> tuple[int, dict]:
    return await server.api("POST", "/auth/login", {"email": email, "password": password})


async def signed_in(server, email: str, password: str = USER_PASSWORD) -> str:
    status, answer = await login(server, email, password)
    assert status == 200, answer
    return answer["access_token"]


@pytest.mark.gen_test(timeout=30)
async def test_a_user_added_with_a_one_time_password_must_change_it_and_the_old_session_ends(server):
    server.add_user("root@lab.example", "admin")
    admin = await signed_in(server, "root@lab.example")
    status, added = await server.api("POST", "/users", {"email": "Ann@Lab.example", "role": "operator"}, token=admin)
    assert status == 201 and added["email"] == "ann@lab.example" and added["must_change_password"]
    one_time = added["one_time_password"]
    status, listed = await server.api("GET", "/users", token=admin)
    assert [u["email"] for u in listed["users"]] == ["ann@lab.example", "root@lab.example"]
    assert "one_time_password" not in json.dumps(listed) and "password_hash" not in json.dumps(listed)

    status, first = await login(server, "ann@lab.example", one_time)
    assert status == 200 and first["user"]["must_change_password"] is True
    token = first["access_token"]
    status, answer = await server.api("POST", "/auth/password", {"current_password": "wrong one",
                                                                 "new_password": "a much better one"}, token=token)
    assert status == 400 and "current_password" in answer["error"]["details"]
    status, changed = await server.api("POST", "/auth/password", {"current_password": one_time,
                                                                  "new_password": "a much better one"}, token=token)
    assert status == 200 and changed["user"]["must_change_password"] is False
    status, _ = await server.api("GET", "/events", token=changed["access_token"])
    assert status == 200
    assert (await login(server, "ann@lab.example", one_time))[0] == 401
    assert (await login(server, "ann@lab.example", "a much better one"))[0] == 200


@pytest.mark.gen_test(timeout=30)
@pytest.mark.settings(stream_require_token=True)
async def test_a_role_change_or_a_deletion_ends_the_users_sessions_and_closes_their_stream(server):
    server.add_user("root@lab.example", "admin")
    server.add_user("bob@lab.example", "operator")
    admin = await signed_in(server, "root@lab.example")
    bob = await signed_in(server, "bob@lab.example")
    status, me = await server.api("GET", "/auth/me", token=bob)
    status, users = await server.api("GET", "/users", token=admin)
    bob_id = next(u["id"] for u in users["users"] if u["email"] == "bob@lab.example")

    stream = await server.connect_stream(f"?token={bob}")
    status, changed = await server.api("PUT", f"/users/{bob_id}", {"role": "viewer"}, token=admin)
    assert status == 200 and changed["role"] == "viewer"
    assert (await stream.closed())[0] == 1008
    assert (await server.api("GET", "/events", token=bob))[0] == 401

    bob = await signed_in(server, "bob@lab.example")
    stream = await server.connect_stream(f"?token={bob}")
    status, _ = await server.api("DELETE", f"/users/{bob_id}", token=admin)
    assert status == 204
    assert (await stream.closed())[0] == 1008
    assert (await server.api("GET", f"/users/{bob_id}", token=admin))[0] == 404

    status, log = await server.api("GET", "/activity?subject=bob@lab.example", token=admin)
    assert [entry["action"] for entry in log["entries"]] == ["user.deleted", "user.role_changed"]


@pytest.mark.gen_test
async def test_the_last_admin_cannot_be_demoted_or_deleted_and_only_admins_manage_users(server):
    server.add_user("root@lab.example", "admin")
    server.add_user("vic@lab.example", "viewer")
    admin = await signed_in(server, "root@lab.example")
    viewer = await signed_in(server, "vic@lab.example")
    status, users = await server.api("GET", "/users", token=admin)
    ids = {u["email"]: u["id"] for u in users["users"]}
    root = ids["root@lab.example"]

    status, answer = await server.api("PUT", f"/users/{root}", {"role": "operator"}, token=admin)
    assert status == 409 and "last admin" in answer["error"]["message"]
    assert (await server.api("DELETE", f"/users/{root}", token=admin))[0] == 409
    assert (await server.api("GET", "/users", token=viewer))[0] == 403
    assert (await server.api("GET", f"/users/{root}", token=viewer))[0] == 403
    status, own = await server.api("GET", f"/users/{ids['vic@lab.example']}", token=viewer)
    assert status == 200 and own["email"] == "vic@lab.example"
    status, answer = await server.api("POST", "/users", {"email": "x@lab.example", "role": "root"}, token=admin)
    assert status == 400 and "role" in answer["error"]["details"]


def test_the_command_line_lists_events_and_users_and_resets_a_lost_admin_password(database_url, sql):
    env = {"DATABASE_URL": database_url}
    added = run_app("user", "add", "root@lab.example", "--role", "admin", env={**env, "WEBMACS_PASSWORD": "x" * 12})
    assert added.returncode == 0, added.stderr
    listed = [json.loads(line) for line in run_app("user", "list", env=env).stdout.splitlines()]
    assert [(u["email"], u["role"]) for u in listed] == [("root@lab.example", "admin")]
    assert [json.loads(line)["public_id"] for line in run_app("event", "list", env=env).stdout.splitlines()] == [
        "evt_press01", "evt_temp01"]

    reset = run_app("user", "reset-password", "root@lab.example", env=env)
    assert reset.returncode == 0 and "one-time password" in reset.stderr
    one_time = reset.stdout.strip()
    assert len(one_time) >= 16 and "\n" not in one_time
    with sql.cursor() as cur:
        cur.execute("SELECT must_change_password FROM users")
        assert cur.fetchone() == (True,)
    refused = run_app("user", "set-role", "root@lab.example", "viewer", env=env)
    assert refused.returncode == 1 and "last admin" in refused.stderr
    assert run_app("user", "delete", "nobody@lab.example", env=env).returncode == 1
    with sql.cursor() as cur:
        cur.execute("SELECT actor, action FROM activity ORDER BY id")
        assert cur.fetchall() == [("command line", "user.added"), ("command line", "user.password_reset")]


@pytest.mark.gen_test
async def test_a_session_renews_itself_and_a_users_dashboard_choices_follow_them(server):
    server.add_user("ann@lab.example", "viewer")
    token = await signed_in(server, "ann@lab.example")
    status, renewed = await server.api("POST", "/auth/renew", token=token)
    assert status == 200 and renewed["access_token"] != token and renewed["user"]["email"] == "ann@lab.example"
    choices = {"charted": ["evt_temp01"], "overlays": [["evt_temp01", "evt_press01"]]}
    status, _ = await server.api("PUT", "/auth/preferences", choices, token=token)
    assert status == 200
    status, kept = await server.api("GET", "/auth/preferences", token=renewed["access_token"])  # another "browser"
    assert status == 200 and kept == choices
    assert (await server.api("GET", "/auth/preferences", token=server.token(role="viewer")))[0] == 403  # no account
    status, _ = await server.api("PUT", "/auth/preferences", {"pad": "x" * 20000}, token=token)
    assert status == 413
