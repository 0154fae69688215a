-- Alert engine, version 6: evaluator state, the alert lifecycle with its append-only
-- audit log and approvals, the outbox the notification workers deliver from, and
-- staff accounts for the people who approve alerts.

-- Per-station alert settings. alert_status: a station in a drill raises Exercise (or
-- Test) alerts, which can never reach a public channel.
ALTER TABLE stations
    ADD COLUMN alert_status  text NOT NULL DEFAULT 'Actual'
        CHECK (alert_status IN ('Actual', 'Exercise', 'Test')),
    -- rule settings that differ from the defaults for this station (alerts.rules.RuleSettings)
    ADD COLUMN alert_rules   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(alert_rules) = 'object');

-- The evaluator's memory of each station (alerts.model.StationState as JSON) and the
-- quality flags of its latest reading.
ALTER TABLE station_status
    ADD COLUMN state    jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN quality  integer NOT NULL DEFAULT 0,
    ADD COLUMN offline  boolean NOT NULL DEFAULT false;

CREATE TABLE staff_users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$'),
    display_name   text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    password_hash  text NOT NULL,  -- argon2id; the password itself is never stored
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Signed-in staff; only the SHA-256 of the session token is kept.
CREATE TABLE staff_sessions (
    token_digest  text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX staff_sessions_user ON staff_sessions (user_id);

-- Failed sign-ins, for throttling by user name and by client address.
CREATE TABLE staff_login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   text NOT NULL,
    client     text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_login_failures_username ON staff_login_failures (username, failed_at);
CREATE INDEX staff_login_failures_client ON staff_login_failures (client, failed_at);

-- Account changes and sign-ins: who (NULL actor = the server's command line) did what to whom.
CREATE TABLE staff_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor_id  bigint REFERENCES staff_users (id),
    user_id   bigint REFERENCES staff_users (id),
    action    text NOT NULL,  -- created, role, disabled, enabled, password, signed_in, signed_out
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX staff_audit_user ON staff_audit (user_id, at);

-- One row per alert. At most one open (pending or active) alert per fingerprint
-- ("<station>:<kind>"). version counts public messages (Alert = 1, each Update +1).
CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint     text NOT NULL,
    station_id      text NOT NULL REFERENCES stations (id),
    kind            text NOT NULL CHECK (kind IN ('stage', 'forecast', 'unverified', 'sensor', 'offline')),
    status          text NOT NULL CHECK (status IN ('Actual', 'Exercise', 'Test')),
    state           text NOT NULL CHECK (state IN ('pending', 'active', 'resolved', 'cancelled', 'withdrawn')),
    public          boolean NOT NULL,
    alert_level     smallint CHECK (alert_level BETWEEN 1 AND 5),
    stage_key       text,
    pending_level   smallint CHECK (pending_level BETWEEN 1 AND 5),  -- an escalation awaiting approval
    pending_stage   text,
    -- staff rejected or cancelled this level: the same condition does not raise the
    -- alert (or its escalation) again until it ends or rises above this level
    suppressed_level smallint CHECK (suppressed_level BETWEEN 0 AND 5),
    stale           boolean NOT NULL DEFAULT false,
    areas           text[] NOT NULL DEFAULT '{}',
    details         jsonb NOT NULL DEFAULT '{}',
    version         integer NOT NULL DEFAULT 0,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    acknowledged_by bigint REFERENCES staff_users (id),
    acknowledged_at timestamptz,
    notified_at     timestamptz,  -- staff last reminded of a pending approval
    CHECK (status = 'Actual' OR NOT public),  -- a drill never reaches residents
    CHECK ((state IN ('pending', 'active')) = (ended_at IS NULL))
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE state IN ('pending', 'active');
CREATE INDEX alerts_station ON alerts (station_id, opened_at DESC);
-- what the evaluator loads for each station: open alerts and closed ones still suppressing
CREATE UNIQUE INDEX alerts_live ON alerts (fingerprint)
    WHERE state IN ('pending', 'active') OR suppressed_level IS NOT NULL;
CREATE INDEX alerts_live_station ON alerts (station_id)
    WHERE state IN ('pending', 'active') OR suppressed_level IS NOT NULL;
CREATE INDEX alerts_recent ON alerts (updated_at DESC);

-- Who approved which version of an alert (or its pending escalation).
CREATE TABLE alert_approvals (
    alert_id     bigint NOT NULL REFERENCES alerts (id),
    level        smallint NOT NULL,
    user_id      bigint NOT NULL REFERENCES staff_users (id),
    approved_at  timestamptz NOT NULL,
    PRIMARY KEY (alert_id, level, user_id)
);

-- Append-only: every transition, with who (NULL actor = the evaluator), when and why.
CREATE TABLE alert_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    at          timestamptz NOT NULL,
    actor_id    bigint REFERENCES staff_users (id),
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_audit_alert ON alert_audit (alert_id, id);

CREATE OR REPLACE FUNCTION kawamori_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER alert_audit_append_only BEFORE UPDATE OR DELETE ON alert_audit
    FOR EACH ROW EXECUTE FUNCTION kawamori_append_only();

-- Written in the same transaction as every public alert change; the notification
-- workers deliver from here. An Exercise or Test alert is never public.
CREATE TABLE alert_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id      bigint NOT NULL REFERENCES alerts (id),
    version       integer NOT NULL,
    msg_type      text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    status        text NOT NULL CHECK (status IN ('Actual', 'Exercise', 'Test')),
    public        boolean NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    claimed_by    text,
    lease_until   timestamptz,
    done_at       timestamptz,
    UNIQUE (alert_id, version),
    CHECK (status = 'Actual' OR NOT public)
);
CREATE INDEX alert_outbox_todo ON alert_outbox (id) WHERE done_at IS NULL;
