"""The schema: versioned migrations, and the rules PostgreSQL itself enforces."""

from __future__ import annotations

import asyncio

import psycopg2
import pytest

from models import database


@pytest.mark.gen_test
async def test_migrations_are_applied_once_even_by_concurrent_servers(database_url):
    name = "webmacs_migrate_test"
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
