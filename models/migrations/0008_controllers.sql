-- Controllers as devices the server knows: each has a name, an optional scope (a list of events or a
-- prefix of event ids), and one token, of which only the id (jti) is kept, never the token itself.
-- Revoking sets revoked_at (the row stays, so the datapoints it stored still name it).

CREATE TABLE controllers (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE CHECK (public_id ~ '^ctl_[A-Za-z0-9]{1,60}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    events          text[],   -- the events it may write; NULL: no list
    event_prefix    text,     -- or those whose id starts with this; NULL: no prefix
    token_id        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    CHECK (events IS NULL OR event_prefix IS NULL)
);

-- Every datapoint now records who stored it (`source`): a registered controller's id, or minus the id
-- of the signed-in user whose token sent it (over HTTP or the telemetry socket); NULL for rows stored
-- before, and for tokens minted with `app.py token --role controller`. No foreign key: a check per
-- stored reading would cost ingest, and a deleted user's readings keep the number.
--
-- The table is built again for it, so that a row keeps its size: `event_id` and `source` become two
-- 4-byte columns sharing one 8-byte slot (and `experiment_id` 4 bytes), and the columns dropped by
-- 0005 and 0006, which a row still carries in its null bitmap, go; with them, one more column would
-- have made that bitmap two bytes and every row 8 bytes longer. A row takes 60 bytes, and about 120
-- with its indexes. This copies every datapoint once: about a minute per 10 million, while the server
-- is not serving.
CREATE TABLE datapoints_rebuilt (
    id              bigint NOT NULL DEFAULT webmacs_take_datapoint_ids(1),
    event_id        integer NOT NULL REFERENCES events (id),
    source          integer,
    value           double precision NOT NULL,
    recorded_at     timestamptz NOT NULL,
    experiment_id   integer REFERENCES experiments (id)
);
INSERT INTO datapoints_rebuilt (id, event_id, value, recorded_at, experiment_id)
SELECT id, event_id, value, recorded_at, experiment_id FROM datapoints ORDER BY id;
DROP TABLE datapoints;
ALTER TABLE datapoints_rebuilt RENAME TO datapoints;
ALTER TABLE datapoints ADD CONSTRAINT datapoints_pkey PRIMARY KEY (id);
CREATE INDEX datapoints_event_time ON datapoints (event_id, recorded_at);
CREATE INDEX datapoints_experiment_time ON datapoints (experiment_id, recorded_at) WHERE experiment_id IS NOT NULL;
ALTER TABLE datapoints RENAME CONSTRAINT datapoints_rebuilt_event_id_fkey TO datapoints_event_id_fkey;
ALTER TABLE datapoints RENAME CONSTRAINT datapoints_rebuilt_experiment_id_fkey TO datapoints_experiment_id_fkey;

-- Presence: where and since when each controller is connected, kept by the server processes holding
-- its sockets (each writes its own rows about once a second, and deletes them when the socket closes).
-- A row not refreshed for two heartbeat intervals belongs to a process that died: it no longer counts.
CREATE TABLE controller_connections (
    process             text NOT NULL,  -- the server process holding the socket
    connection          bigint NOT NULL,  -- the socket's number in that process
    controller_id       integer NOT NULL REFERENCES controllers (id),
    address             text NOT NULL,
    connected_at        timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,  -- last frame of any kind
    last_reading_at     timestamptz,
    readings_per_second real NOT NULL DEFAULT 0,  -- over the last minute (or since it connected)
    PRIMARY KEY (process, connection)
);
CREATE INDEX controller_connections_controller ON controller_connections (controller_id);

-- What stays known after the last socket closed.
ALTER TABLE controllers ADD COLUMN last_seen timestamptz, ADD COLUMN last_reading_at timestamptz,
    ADD COLUMN last_address text;

-- An event whose newest reading is older than this many seconds is stale (NULL: never), judged by
-- the server, also while its controller keeps sending other events.
ALTER TABLE events ADD COLUMN stale_after double precision CHECK (stale_after > 0);
