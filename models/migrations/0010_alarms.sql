-- Alarms: rules on readings and silences, the alarms they raise, signed webhooks that tell other systems,
-- and an activity log of who did what.

-- A rule names one event and one condition: above/below `threshold`, outside/inside [low, high], or
-- no_data (no reading for `threshold` seconds). It fires once the condition has held for `for_seconds`,
-- and its alarm clears when the value is back by `hysteresis` (so a value hovering on the line does not
-- flap).
CREATE TABLE rules (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    event_id        integer NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    condition       text NOT NULL CHECK (condition IN ('above', 'below', 'outside', 'inside', 'no_data')),
    threshold       double precision,
    low             double precision,
    high            double precision,
    for_seconds     double precision NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
    hysteresis      double precision NOT NULL DEFAULT 0 CHECK (hysteresis >= 0),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE condition WHEN 'above' THEN threshold IS NOT NULL
                          WHEN 'below' THEN threshold IS NOT NULL
                          WHEN 'no_data' THEN threshold > 0
                          ELSE low IS NOT NULL AND high IS NOT NULL AND low <= high END)
);
CREATE INDEX rules_event ON rules (event_id);

-- An alarm is active while its rule's condition holds, then cleared (by itself, or because its rule was
-- edited or deleted, said in cleared_reason); acknowledging is apart from both. A rule has at most one
-- active alarm, which the database enforces: several server processes evaluating readings raise it once.
CREATE TABLE alarms (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    rule_id         integer REFERENCES rules (id) ON DELETE SET NULL,
    rule_public_id  text NOT NULL,  -- kept, like the name, after the rule is deleted
    rule_name       text NOT NULL,
    event_id        integer NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    severity        text NOT NULL,
    condition       text NOT NULL,  -- as the rule said it when the alarm was raised, e.g. "above 80"
    active          boolean NOT NULL DEFAULT true,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    first_value     double precision,
    last_value      double precision,
    last_at         timestamptz,
    count           integer NOT NULL DEFAULT 1,  -- readings that met the condition while it was active
    cleared_at      timestamptz,
    cleared_reason  text,
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_comment     text
);
CREATE UNIQUE INDEX alarms_one_active_per_rule ON alarms (rule_id) WHERE active;
CREATE INDEX alarms_open ON alarms (id) WHERE active OR acknowledged_at IS NULL;
CREATE INDEX alarms_event ON alarms (event_id, id);

-- Webhooks: where to POST which kinds of happenings, signed with the secret (kept to sign with; never
-- shown again).
CREATE TABLE webhooks (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    url             text NOT NULL,
    secret          text NOT NULL,
    kinds           text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per happening per webhook, written in the transaction of the happening where it can be, so it
-- is sent once; any server process may send it (claimed with a lease), and retry it with backoff.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    webhook_id      integer NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    attempt_codes   integer[] NOT NULL DEFAULT '{}',  -- each attempt's HTTP status; 0: no answer
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,  -- a process is sending it until then
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- Who did what, when: people's changes (and the command line's), newest first by id.
CREATE TABLE activity (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    action          text NOT NULL,
    subject         text,  -- the public id it was done to
    details         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX activity_subject ON activity (subject, id);
CREATE INDEX activity_actor ON activity (actor, id);
CREATE INDEX activity_action ON activity (action, id);

-- An alarm as the API, the stream and webhooks show it: the one statement of its shape.
CREATE FUNCTION webmacs_utc(moment timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
CREATE FUNCTION webmacs_alarm_json(a alarms) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'alarm_id', a.public_id, 'rule_id', a.rule_public_id, 'rule_name', a.rule_name,
        'event_public_id', (SELECT public_id FROM events WHERE id = a.event_id), 'severity', a.severity,
        'condition', a.condition, 'state', CASE WHEN a.active THEN 'active' ELSE 'cleared' END,
        'acknowledged', a.acknowledged_at IS NOT NULL, 'raised_at', webmacs_utc(a.raised_at),
        'first_value', a.first_value, 'last_value', a.last_value, 'last_at', webmacs_utc(a.last_at),
        'count', a.count, 'cleared_at', webmacs_utc(a.cleared_at), 'cleared_reason', a.cleared_reason,
        'acknowledged_at', webmacs_utc(a.acknowledged_at), 'acknowledged_by', a.acknowledged_by,
        'ack_comment', a.ack_comment)
$$;

-- Something webhooks may want happened: a delivery for each webhook that asked for its kind, in the
-- transaction of the happening.
CREATE FUNCTION webmacs_happened(kind text, body jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (webhook_id, kind, payload)
    SELECT w.id, kind, jsonb_build_object('kind', kind, 'occurred_at', webmacs_utc(clock_timestamp())) || body
    FROM webhooks w WHERE kind = ANY (w.kinds);
    SELECT pg_notify('webmacs_alarms', 'deliveries') WHERE EXISTS (SELECT 1 FROM webhooks WHERE kind = ANY (kinds));
$$;

-- Each change of an alarm's state, however it came about (a reading, the silence timer, a rule edited or
-- deleted, an acknowledgement), is told to every server process (for the stream and the evaluators) and
-- to the webhooks, once. Updates of its count and last value are not.
CREATE FUNCTION webmacs_alarm_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    shown jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'alarm.raised';
    ELSIF OLD.active AND NOT NEW.active THEN
        kind := 'alarm.cleared';
    ELSIF OLD.acknowledged_at IS NULL AND NEW.acknowledged_at IS NOT NULL THEN
        kind := 'alarm.acknowledged';
    ELSE
        RETURN NULL;
    END IF;
    shown := webmacs_alarm_json(NEW);
    PERFORM pg_notify('webmacs_alarms', 'alarm ' || jsonb_build_object('kind', kind, 'alarm', shown)::text);
    PERFORM webmacs_happened(kind, jsonb_build_object('alarm', shown));
    RETURN NULL;
END
$$;
CREATE TRIGGER alarm_changed AFTER INSERT OR UPDATE ON alarms
    FOR EACH ROW EXECUTE FUNCTION webmacs_alarm_changed();

CREATE FUNCTION webmacs_experiment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (OLD.stopped_at IS NULL AND NEW.stopped_at IS NOT NULL) THEN
        PERFORM webmacs_happened(CASE WHEN TG_OP = 'INSERT' THEN 'experiment.started' ELSE 'experiment.stopped' END,
            jsonb_build_object('experiment', jsonb_build_object('public_id', NEW.public_id, 'name', NEW.name,
                'started_at', webmacs_utc(NEW.started_at), 'stopped_at', webmacs_utc(NEW.stopped_at))));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER experiment_changed AFTER INSERT OR UPDATE ON experiments
    FOR EACH ROW EXECUTE FUNCTION webmacs_experiment_changed();

-- A controller is connected while any process holds a socket for it (controller_connections): told when
-- its first row arrives and when its last goes, once per statement, however many sockets it has.
CREATE FUNCTION webmacs_controllers_arrived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webmacs_happened('controller.connected', jsonb_build_object('controller',
        jsonb_build_object('public_id', c.public_id, 'name', c.name, 'address', a.address)))
    FROM (SELECT DISTINCT ON (controller_id) controller_id, address FROM arrived ORDER BY controller_id) a
    JOIN controllers c ON c.id = a.controller_id
    WHERE NOT EXISTS (SELECT 1 FROM controller_connections k WHERE k.controller_id = a.controller_id
                      AND (k.process, k.connection) NOT IN (SELECT process, connection FROM arrived));
    RETURN NULL;
END
$$;
CREATE TRIGGER controllers_arrived AFTER INSERT ON controller_connections
    REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT EXECUTE FUNCTION webmacs_controllers_arrived();

CREATE FUNCTION webmacs_controllers_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webmacs_happened('controller.disconnected', jsonb_build_object('controller',
        jsonb_build_object('public_id', c.public_id, 'name', c.name)))
    FROM (SELECT DISTINCT controller_id FROM gone) g JOIN controllers c ON c.id = g.controller_id
    WHERE NOT EXISTS (SELECT 1 FROM controller_connections k WHERE k.controller_id = g.controller_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER controllers_gone AFTER DELETE ON controller_connections
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION webmacs_controllers_gone();
