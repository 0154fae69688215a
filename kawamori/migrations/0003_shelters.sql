-- Shelters, version 3: access codes, head counts as events, status history, staff
-- sessions and door counters. shelters.occupancy stays the current count, kept
-- consistent with the events in the same transaction (see shelters/occupancy.py).

ALTER TABLE shelters
    ADD COLUMN access_code_hash   text,              -- scrypt; the code itself is never stored
    ADD COLUMN status_changed_at  timestamptz,
    ADD COLUMN count_changed_at   timestamptz;

-- Every head-count change, append-only. The id is chosen by the sender (a tablet's
-- crypto.randomUUID(), or derived from a door counter's device and seq), so sending
-- an event twice stores it once. No personal data: counts only.
CREATE TABLE shelter_count_events (
    id           uuid PRIMARY KEY,
    shelter_id   text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('delta', 'set')),
    value        integer NOT NULL,
    source       text NOT NULL CHECK (source IN ('staff', 'door_counter')),
    device_id    text REFERENCES devices (id),
    recorded_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'delta' AND value <> 0) OR (kind = 'set' AND value >= 0))
);
CREATE INDEX shelter_count_events_order ON shelter_count_events (shelter_id, recorded_at, id);

-- Every open / close / preparing change, append-only, idempotent like the counts.
CREATE TABLE shelter_status_events (
    id           uuid PRIMARY KEY,
    shelter_id   text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE,
    status       text NOT NULL CHECK (status IN ('preparing', 'open', 'closed')),
    source       text NOT NULL DEFAULT 'staff',
    recorded_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shelter_status_events_order ON shelter_status_events (shelter_id, recorded_at);

-- Staff sessions opened with a shelter's access code; only the token's SHA-256 is kept.
CREATE TABLE shelter_sessions (
    token_digest  text PRIMARY KEY,
    shelter_id    text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX shelter_sessions_shelter ON shelter_sessions (shelter_id);

-- Door counters: devices (same MQTT identity and credentials as gauges) counting
-- people at a shelter's entrance.
CREATE TABLE shelter_counters (
    device_id   text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    shelter_id  text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE
);
