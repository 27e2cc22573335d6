-- Controllers as devices the server knows: each has a name, an optional scope (a list of events or a
-- prefix of event ids), and one token, of which only the id (jti) is kept, never the token itself.
-- Revoking sets revoked_at (the row stays, so the datapoints it stored still name it).
--
-- Every datapoint now records who stored it: the controller, or the signed-in user for readings sent
-- over HTTP or the telemetry socket with a login token. Two 4-byte columns share one 8-byte slot of the
-- row (68 bytes a row instead of 60, about 126 in all with the indexes). Neither is a foreign key: a
-- check per stored reading would cost ingest, and a deleted user's readings keep the number. Rows
-- stored before this migration, and by tokens minted with `app.py token --role controller` before it,
-- record nobody.

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

ALTER TABLE datapoints ADD COLUMN controller_id integer, ADD COLUMN user_id integer;

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
