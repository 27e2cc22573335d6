-- Events (sensors and actuators), experiments and the datapoints recorded for them.
-- Note for authors of migrations: these files run through psycopg2 with parameters, so a
-- literal percent sign must be written twice.

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id   text NOT NULL UNIQUE CHECK (public_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name        text NOT NULL,
    type        text NOT NULL DEFAULT 'sensor'
                CHECK (type IN ('sensor', 'actuator', 'range', 'cmd_button', 'cmd_opened', 'cmd_closed')),
    unit        text NOT NULL DEFAULT '',
    min_value   double precision,
    max_value   double precision,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (min_value IS NULL OR max_value IS NULL OR min_value <= max_value)
);

CREATE TABLE experiments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id   text NOT NULL UNIQUE,
    name        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at  timestamptz,
    CHECK (stopped_at IS NULL OR stopped_at >= started_at)
);

-- At most one experiment runs at a time, enforced here rather than trusted to callers.
CREATE UNIQUE INDEX experiments_one_running ON experiments ((true)) WHERE stopped_at IS NULL;

CREATE TABLE datapoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    event_id        bigint NOT NULL REFERENCES events (id),
    experiment_id   bigint REFERENCES experiments (id),
    value           double precision NOT NULL,
    recorded_at     timestamptz NOT NULL
);

-- Latest value per event and per-event time ranges.
CREATE INDEX datapoints_event_time ON datapoints (event_id, recorded_at DESC);
-- An experiment's datapoints in time order (CSV export).
CREATE INDEX datapoints_experiment_time ON datapoints (experiment_id, recorded_at) WHERE experiment_id IS NOT NULL;
