-- Rollups: per event, per minute and per hour, what GET /api/v1/datapoints/series needs of the readings
-- (count, sum, min, max and the last one), kept up to date as readings commit, so that a month of
-- history is read from hundreds of rows instead of millions. They may outlive the raw readings
-- (ROLLUP_RETENTION_DAYS). Remember: these files run with parameters, so a percent sign is written twice.

CREATE TABLE datapoint_rollups (
    event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    resolution  integer NOT NULL CHECK (resolution IN (60, 3600)),  -- seconds
    bucket      timestamptz NOT NULL,  -- the start, a multiple of resolution since 1970
    count       bigint NOT NULL,
    total       numeric NOT NULL,  -- exact: a sum of doubles can overflow a double (two of 1e308)
    low         double precision NOT NULL,
    high        double precision NOT NULL,
    last_at     timestamptz NOT NULL,
    last_id     bigint NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (event_id, resolution, bucket)
);

-- One bucket computed again from the readings stored in it (after a delete, which min and max cannot
-- undo); the row goes when the bucket has no reading left.
CREATE FUNCTION webmacs_rollup_recompute(p_event bigint, p_resolution integer, p_bucket timestamptz)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM datapoint_rollups WHERE event_id = p_event AND resolution = p_resolution AND bucket = p_bucket;
    INSERT INTO datapoint_rollups
    SELECT p_event, p_resolution, p_bucket, count(*), sum(value::numeric), min(value), max(value),
           max(recorded_at), (array_agg(id ORDER BY recorded_at DESC, id DESC))[1],
           (array_agg(value ORDER BY recorded_at DESC, id DESC))[1]
    FROM datapoints
    WHERE event_id = p_event AND recorded_at >= p_bucket
      AND recorded_at < p_bucket + p_resolution * interval '1 second'
    HAVING count(*) > 0;
$$;

INSERT INTO datapoint_rollups
SELECT d.event_id, r.resolution, date_bin(r.resolution * interval '1 second', d.recorded_at, 'epoch'),
       count(*), sum(d.value::numeric), min(d.value), max(d.value), max(d.recorded_at),
       (array_agg(d.id ORDER BY d.recorded_at DESC, d.id DESC))[1],
       (array_agg(d.value ORDER BY d.recorded_at DESC, d.id DESC))[1]
FROM datapoints d CROSS JOIN (VALUES (60), (3600)) AS r(resolution)
GROUP BY 1, 2, 3;
