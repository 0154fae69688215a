-- Residents during a disaster (issue 18): safety check-ins and rescue requests.
-- Personal data is minimised and sealed at rest with the subscriber key (notify/sealing.py):
-- a household is only a keyed digest; a rescue request's place, address, phone, needs and
-- note are one sealed blob (AES-GCM, the request id as associated data). Rows are purged
-- after the retention period and deleted on request (rescue/store.py).

-- one row per household: its latest check-in ("at a shelter", "safe at home or elsewhere")
CREATE TABLE safety_checkins (
    household_digest text PRIMARY KEY,      -- keyed hash of the page's random household id or a LINE user
    report_id        uuid NOT NULL,         -- chosen by the page: a repeat of a queued report stores nothing
    status           text NOT NULL CHECK (status IN ('shelter', 'safe')),
    shelter_id       text REFERENCES shelters (id) ON DELETE SET NULL,
    household_size   integer NOT NULL CHECK (household_size BETWEEN 1 AND 30),
    area_id          text REFERENCES alert_areas (id) ON DELETE SET NULL,
    language         text NOT NULL,
    reported_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL
);
CREATE INDEX safety_checkins_received ON safety_checkins (received_at);

-- rescue requests: received -> confirmed -> assigned (team) -> resolved / cancelled
CREATE TABLE rescue_requests (
    id               uuid PRIMARY KEY,      -- chosen by the page (offline queue: sent once)
    household_digest text NOT NULL,
    source_digests   text[] NOT NULL,       -- keyed hashes of phone, LINE user, address, client: per-source limits
    status_digest    text NOT NULL UNIQUE,  -- SHA-256 of the resident's status token
    state            text NOT NULL DEFAULT 'received'
                     CHECK (state IN ('received', 'confirmed', 'assigned', 'resolved', 'cancelled')),
    team             text CHECK (length(team) <= 64),
    people           integer NOT NULL CHECK (people BETWEEN 1 AND 100),
    area_id          text REFERENCES alert_areas (id) ON DELETE SET NULL,
    details          bytea NOT NULL,        -- sealed: place, address, phone, needs, note
    flagged          boolean NOT NULL DEFAULT false,  -- many requests from one source: staff judge
    repeats          integer NOT NULL DEFAULT 0,      -- later requests of the household merged into this one
    language         text NOT NULL,
    received_at      timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    closed_at        timestamptz
);
-- at most one open request per household: a repeat is merged into it
CREATE UNIQUE INDEX rescue_requests_open_household ON rescue_requests (household_digest)
    WHERE state IN ('received', 'confirmed', 'assigned');
CREATE INDEX rescue_requests_sources ON rescue_requests USING gin (source_digests);
CREATE INDEX rescue_requests_updated ON rescue_requests (updated_at);

-- the page-chosen ids of repeats merged into a request: a resent repeat stores nothing
CREATE TABLE rescue_request_ids (
    id         uuid PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES rescue_requests (id) ON DELETE CASCADE
);

-- who changed a request, when, from what to what (no personal data); append-only
CREATE TABLE rescue_audit (
    id         bigserial PRIMARY KEY,
    request_id uuid NOT NULL,              -- kept after the request is deleted
    from_state text,
    to_state   text NOT NULL,
    team       text,
    actor_id   bigint REFERENCES staff_users (id) ON DELETE SET NULL,
    actor      text NOT NULL,              -- a staff user name, 'resident' or 'retention'
    at         timestamptz NOT NULL
);
CREATE INDEX rescue_audit_request ON rescue_audit (request_id, id);
CREATE FUNCTION rescue_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rescue_audit is append-only';
END
$$;
CREATE TRIGGER rescue_audit_append_only BEFORE UPDATE OR DELETE ON rescue_audit
    FOR EACH ROW EXECUTE FUNCTION rescue_audit_append_only();

-- staff accounts allowed to see and work rescue requests (kawamori rescue grant)
CREATE TABLE rescue_staff (
    user_id    bigint PRIMARY KEY REFERENCES staff_users (id) ON DELETE CASCADE,
    granted_by text NOT NULL,
    granted_at timestamptz NOT NULL
);

-- the dashboard serves residents and staff: it writes these (default privileges of 0013);
-- the audit only grows
REVOKE UPDATE, DELETE ON rescue_audit FROM kawamori_dashboard;
