-- The transaction that stored each datapoint, for a polling cursor without gaps. Identity values are
-- taken before commit, so with several writers a smaller id can become visible after a larger one;
-- a transaction id below the oldest one still running can no longer gain rows.

ALTER TABLE datapoints ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX datapoints_cursor ON datapoints (txid, id);
