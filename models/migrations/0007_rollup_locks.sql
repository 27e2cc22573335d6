-- Rollups under concurrency. Two deletes in one bucket recomputed it at the same time: both removed the
-- row and both inserted one, and the second failed on the primary key with the rollup left stale. Now a
-- recompute takes a lock on its bucket first, so the second waits and then reads what the first left.
-- Every writer of rollups (these recomputes and the ingest statement's upsert) takes its rows in
-- (event_id, resolution, bucket) order, so that two of them never wait for each other in a circle.

CREATE OR REPLACE FUNCTION webmacs_rollup_recompute(p_event bigint, p_resolution integer, p_bucket timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('webmacs_rollup'),
                                  hashtext(p_event || '/' || p_resolution || '/' || extract(epoch FROM p_bucket)));
    -- Each statement below sees what committed before it began, the other recompute's work included.
    DELETE FROM datapoint_rollups WHERE event_id = p_event AND resolution = p_resolution AND bucket = p_bucket;
    INSERT INTO datapoint_rollups
    SELECT p_event, p_resolution, p_bucket, count(*), sum(value::numeric), min(value), max(value),
           max(recorded_at), (array_agg(id ORDER BY recorded_at DESC, id DESC))[1],
           (array_agg(value ORDER BY recorded_at DESC, id DESC))[1]
    FROM datapoints
    WHERE event_id = p_event AND recorded_at >= p_bucket
      AND recorded_at < p_bucket + p_resolution * interval '1 second'
    HAVING count(*) > 0;
END
$$;
