"""Retention: what the settings no longer keep is removed in batches; experiments' readings are kept."""

from __future__ import annotations

import json
import time

from tests.helpers import run_app, serving

SECRET = "r" * 48


def seed(sql, days_ago: float, count: int, experiment: str | None = None, value: float = 1.0) -> None:
    with sql.cursor() as cur:
        cur.execute("INSERT INTO datapoints (event_id, experiment_id, value, recorded_at)"
                    " SELECT (SELECT id FROM events WHERE public_id = 'evt_temp01'),"
                    " (SELECT id FROM experiments WHERE public_id = %s), %s,"
                    " now() - %s * interval '1 day' + n * interval '1 millisecond'"
                    " FROM generate_series(1, %s) n", (experiment, value, days_ago, count))


def start_experiment(sql, public_id: str) -> None:
    with sql.cursor() as cur:
        cur.execute("INSERT INTO experiments (public_id, name, started_at, stopped_at)"
                    " VALUES (%s, 'Old run', now() - interval '30 days', now() - interval '29 days')", (public_id,))


def remaining(sql) -> dict[float, int]:
    with sql.cursor() as cur:
        cur.execute("SELECT value, count(*) FROM datapoints GROUP BY value")
        return dict(cur.fetchall())


def purge(database_url: str, tmp_path, **settings: str) -> dict:
    result = run_app("purge", env={"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path),
                                   "JWT_SECRET": SECRET, **settings})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_purge_removes_old_readings_keeps_recent_ones_and_experiments_until_their_own_limit(database_url, sql,
                                                                                             tmp_path):
    start_experiment(sql, "exp_old")
    seed(sql, 10, 3, value=1.0)  # old, no experiment
    seed(sql, 1, 2, value=2.0)  # recent
    seed(sql, 29.5, 4, experiment="exp_old", value=3.0)  # old, of an experiment
    seed(sql, 8, 2, value=1.0)  # old, but stored after newer ones (backfill)
    assert purge(database_url, tmp_path)["removed"] == 0  # 0: keep forever
    done = purge(database_url, tmp_path, DATAPOINT_RETENTION_DAYS="5")
    assert done["removed"] == 5 and done["datapoint_cutoff"] and done["experiment_cutoff"] is None
    assert remaining(sql) == {2.0: 2, 3.0: 4}
    assert purge(database_url, tmp_path, DATAPOINT_RETENTION_DAYS="5", EXPERIMENT_RETENTION_DAYS="20")["removed"] == 4
    assert remaining(sql) == {2.0: 2}


def test_purge_goes_through_many_batches_past_the_readings_it_keeps(database_url, sql, tmp_path):
    start_experiment(sql, "exp_kept")
    seed(sql, 12, 6000, value=1.0)
    seed(sql, 11, 3000, experiment="exp_kept", value=3.0)  # kept, between the batches' rows
    seed(sql, 10, 6000, value=1.5)
    seed(sql, 0.5, 10, value=2.0)
    assert purge(database_url, tmp_path, DATAPOINT_RETENTION_DAYS="7")["removed"] == 12_000
    assert remaining(sql) == {3.0: 3000, 2.0: 10}


def test_the_server_purges_at_start_and_reports_it_and_the_oldest_reading(database_url, sql, tmp_path):
    seed(sql, 10, 3, value=1.0)
    seed(sql, 2, 1, value=2.0)
    env = {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": SECRET,
           "DATAPOINT_RETENTION_DAYS": "5"}
    with serving(env) as server:
        deadline = time.monotonic() + 30
        while (health := server.health())["last_purge"] is None:
            assert time.monotonic() < deadline, "no purge reported"
            time.sleep(0.05)
        assert health["last_purge"]["removed"] == 3
        with sql.cursor() as cur:
            cur.execute("SELECT to_char(min(recorded_at) AT TIME ZONE 'UTC',"
                        " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM datapoints")
            assert health["oldest_reading"] == cur.fetchone()[0]
    assert remaining(sql) == {2.0: 1}
