-- Exactly once across lost acks. A controller that names its session on connect
-- (/ws/controller/telemetry?session=NAME) numbers its messages with an integer seq counting up within
-- it. The server keeps, per sender and session, the highest seq it stored and the seqs below it that it
-- has not (a message retried after "database unavailable" may come after later ones): a message is new
-- if its seq is above the highest or one of those. Otherwise it is a resend, not stored again, and
-- answered with the original's ack, whose ids are found again from its readings (models/sessions.py):
-- nothing per message is kept, so a session costs ingest a row lock and an update per statement. The
-- check and the datapoints are one statement, so a crash cannot split them, and the session row is
-- locked by it, so two processes cannot both take a resend.
CREATE TABLE telemetry_sessions (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender      text NOT NULL,  -- whose session: "controller:<id>", "user:<id>" or "subject:<sub>"
    name        text NOT NULL,  -- the controller's choice
    high_seq    bigint NOT NULL DEFAULT 0,
    missing     int8multirange NOT NULL DEFAULT '{}',  -- seqs below high_seq not stored (yet)
    used_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sender, name)
);

-- The session's seqs once `taken` are stored: those skipped on the way up join `missing`, and what falls
-- further than `kept` below the top is forgotten, so the multirange stays small.
CREATE FUNCTION webmacs_seqs_missing(missing int8multirange, high bigint, taken int8multirange, kept bigint)
RETURNS int8multirange LANGUAGE sql IMMUTABLE AS $$
    SELECT (missing + int8multirange(int8range(high + 1, greatest(high, upper(taken) - 1) + 1)) - taken)
           * int8multirange(int8range(greatest(high, upper(taken) - 1) - kept, NULL))
$$;

-- Commands to actuators: a value for an event, delivered on the telemetry socket of the controller
-- that owns the event, and acked (or failed) by it. `status` runs pending -> delivered -> acked | failed,
-- or to expired once expires_at passes without an ack.
CREATE TABLE commands (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    event_id        integer NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    value           double precision NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'acked', 'failed', 'expired')),
    message         text,  -- the controller's reason, when it failed
    requested_by    text NOT NULL,  -- the token's subject: an e-mail address for signed-in users
    controller_id   integer REFERENCES controllers (id),  -- delivered to (the last time)
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    finished_at     timestamptz
);
CREATE INDEX commands_event ON commands (event_id, id);
-- The few commands still waiting: what a connecting controller is sent, and what expiry sweeps.
CREATE INDEX commands_open ON commands (expires_at) WHERE status IN ('pending', 'delivered');
