-- A datapoint's id now says which transaction stored it: (that transaction's id + shift) * 2^20 + its
-- place in the transaction. So the id alone is the polling cursor, ordered as (txid, id) was, and the
-- txid column (8 bytes a row) and the (txid, id) index (about 32 bytes a row) go. Ids below
-- webmacs_datapoint_horizon() belong to transactions that have ended: they can gain no more rows.
--
-- Kept: every datapoint stored before keeps its id (and so its public id, dp_<id>); ids taken from now
-- on are all larger. Changed: a polling cursor handed out before ("<txid>-<id>") is read as "after
-- that id", which may miss a datapoint that another server process committed at the very moment the
-- old server stopped; a dashboard reloaded after the upgrade misses nothing.
--
-- The (event_id, recorded_at) index is built again ascending: a newer reading then lands at the right
-- end of its event's range, where PostgreSQL splits full pages 90/10 instead of 50/50, so the index
-- takes about 32 bytes a reading instead of 56. This rebuild takes about a minute per 10 million
-- readings, during which the server is not serving. Remember: these files run with parameters, so a
-- percent sign is written twice.

CREATE TABLE datapoint_id_origin (
    shift bigint NOT NULL  -- added to transaction ids, so that ids restored from elsewhere stay below new ones
);
CREATE UNIQUE INDEX datapoint_id_origin_one_row ON datapoint_id_origin ((true));
INSERT INTO datapoint_id_origin
SELECT greatest(0, (coalesce(max(id), 0) >> 20) + 1 - pg_current_xact_id()::text::bigint) FROM datapoints;

-- The first id of a transaction.
CREATE FUNCTION webmacs_datapoint_base(transaction xid8) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (transaction::text::bigint + shift) << 20 FROM datapoint_id_origin
$$;

-- Every id below this one is final: its transaction has committed or rolled back.
CREATE FUNCTION webmacs_datapoint_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT webmacs_datapoint_base(pg_snapshot_xmin(pg_current_snapshot()))
$$;

-- n consecutive ids for this transaction; returns the first. The count so far lives in a setting local
-- to the transaction, so statements of one transaction never take the same id twice.
CREATE FUNCTION webmacs_take_datapoint_ids(n integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    base constant bigint := webmacs_datapoint_base(pg_current_xact_id());
    taken bigint := coalesce(nullif(current_setting('webmacs.datapoint_ids_taken', true), '')::bigint, 0);
BEGIN
    IF taken + n > 1048576 THEN
        RAISE EXCEPTION 'one transaction may store at most 1048576 datapoints';
    END IF;
    PERFORM set_config('webmacs.datapoint_ids_taken', (taken + n)::text, true);
    RETURN base + taken;
END
$$;

ALTER TABLE datapoints ALTER COLUMN id DROP IDENTITY;
ALTER TABLE datapoints ALTER COLUMN id SET DEFAULT webmacs_take_datapoint_ids(1);
DROP INDEX datapoints_cursor;
ALTER TABLE datapoints DROP COLUMN txid;

DROP INDEX datapoints_event_time;
CREATE INDEX datapoints_event_time ON datapoints (event_id, recorded_at);
