"""The schema: versioned migrations, and the rules PostgreSQL itself enforces."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import psycopg2
import pytest

from models import database, datapoints
from models.readings import Reading


def scratch_name(database_url: str, purpose: str) -> str:
    """A scratch database beside this run's test database, so a run beside this one has its own."""
    return f"{urlsplit(database_url).path.lstrip('/')}_{purpose}"

@pytest.mark.gen_test
async def test_migrations_are_applied_once_even_by_concurrent_servers(database_url):
    name = scratch_name(database_url, "migrate")
    admin_url = database.with_database(database_url, "postgres")
    database.ensure_database(admin_url, name, recreate=True)
    url = database.with_database(database_url, name)
    pools = [await database.connect_pool(url, 1) for _ in range(2)]
    try:
        first, second = await asyncio.gather(*(database.migrate(pool) for pool in pools))
        every_migration = sorted(path.stem for path in database.MIGRATIONS.glob("*.sql"))
        assert sorted([first, second]) == [[], every_migration]
        assert await database.migrate(pools[0]) == []
    finally:
        for pool in pools:
            pool.close()


@pytest.mark.gen_test
async def test_upgrading_to_transaction_ordered_ids_keeps_every_id_and_stores_new_datapoints_after_them(
        database_url):
    name = scratch_name(database_url, "upgrade")
    database.ensure_database(database.with_database(database_url, "postgres"), name, recreate=True)
    url = database.with_database(database_url, name)
    pool = await database.connect_pool(url, 1)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        await database.migrate(pool, until="0005_derived_public_ids")
        with conn.cursor() as cur:
            cur.execute("INSERT INTO events (public_id, name) VALUES ('evt_a', 'A')")
            # One of them with an id far beyond this server's transaction count (restored, say).
            cur.execute("INSERT INTO datapoints (id, event_id, value, recorded_at) OVERRIDING SYSTEM VALUE"
                        " SELECT id, (SELECT id FROM events), id, now() FROM unnest(array[1, 2, 2 ^ 40]::bigint[]) id")
            cur.execute("SELECT txid::text || '-' || id FROM datapoints WHERE id = 2")
            [(old_cursor,)] = cur.fetchall()  # as a poller was handed it before the upgrade

        assert "0006_transaction_ordered_ids" in await database.migrate(pool)

        [stored] = (await datapoints.insert_datapoints(
            pool, [Reading("evt_a", 4.0, "2026-11-26T12:00:00.000Z", None)])).datapoints
        assert stored is not None
        new_id = datapoints.row_id_of(stored["public_id"])
        assert new_id is not None and new_id > 2**40
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM datapoints ORDER BY id")
            assert [row_id for (row_id,) in cur.fetchall()] == [1, 2, 2**40, new_id]
        assert (await datapoints.get_datapoint(pool, "dp_1") or {}).get("value") == 1  # old public ids still work
        after_old_cursor = await datapoints.datapoints_after(
            pool, datapoints.parse_cursor(old_cursor), 10, datapoints.Filters())
        assert [row["public_id"] for row in after_old_cursor] == [f"dp_{2**40}", stored["public_id"]]
        assert after_old_cursor[-1]["cursor"] == stored["cursor"]
    finally:
        conn.close()
        pool.close()


def test_one_transaction_takes_ids_in_order_and_never_the_same_twice(sql):
    with sql.cursor() as cur:
        cur.execute("BEGIN")
        for value in range(3):  # the column's default, statement by statement
            cur.execute("INSERT INTO datapoints (event_id, value, recorded_at)"
                        " SELECT id, %s, now() FROM events WHERE public_id = 'evt_temp01'", (value,))
        cur.execute("SELECT webmacs_take_datapoint_ids(5)")  # as a batch takes them
        [first_of_batch] = cur.fetchone()
        cur.execute("SELECT id FROM datapoints ORDER BY value")
        ids = [row_id for (row_id,) in cur.fetchall()]
        cur.execute("COMMIT")
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2] and first_of_batch == ids[0] + 3
    with sql.cursor() as cur, pytest.raises(psycopg2.errors.RaiseException, match="at most 1048576"):
        cur.execute("SELECT webmacs_take_datapoint_ids(1048577)")  # it would reach the next transaction's


def test_only_one_experiment_can_run_at_a_time(sql):
    with sql.cursor() as cur:
        cur.execute("INSERT INTO experiments (public_id, name) VALUES ('exp_a', 'A')")
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute("INSERT INTO experiments (public_id, name) VALUES ('exp_b', 'B')")
        cur.execute("UPDATE experiments SET stopped_at = now()")
        cur.execute("INSERT INTO experiments (public_id, name) VALUES ('exp_b', 'B')")


def test_datapoints_need_an_existing_event(sql):
    with sql.cursor() as cur, pytest.raises(psycopg2.errors.ForeignKeyViolation):
        cur.execute("INSERT INTO datapoints (event_id, value, recorded_at) VALUES (999, 1, now())")
