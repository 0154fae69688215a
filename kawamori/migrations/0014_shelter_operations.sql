-- Shelters, version 4: what municipal open data says about capacity and designation,
-- official head-count snapshots, and staff who count for several shelters.
-- See shelters/opendata.py, shelters/bulk.py and shelters/sessions.py.

-- Capacity as written (屋内480人／屋外3,350人) and as read. shelters.capacity stays the
-- figure crowding is judged against (0 = unknown), chosen by capacity_basis: indoor for
-- a 指定避難所, the whole site for a place that is only a 指定緊急避難場所.
ALTER TABLE shelters
    ADD COLUMN capacity_text       text NOT NULL DEFAULT '',
    ADD COLUMN capacity_indoor     integer CHECK (capacity_indoor >= 0),
    ADD COLUMN capacity_outdoor    integer CHECK (capacity_outdoor >= 0),
    ADD COLUMN area_m2             double precision CHECK (area_m2 > 0),
    ADD COLUMN capacity_basis      text NOT NULL DEFAULT 'stated'
        CHECK (capacity_basis IN ('indoor', 'site', 'stated', 'unknown')),
    ADD COLUMN designated_shelter  boolean,                 -- 指定避難所; NULL: the file did not say
    ADD COLUMN temporary           boolean NOT NULL DEFAULT false;  -- 臨時避難所 (not designated)
UPDATE shelters SET capacity_text = capacity::text;

-- Official head counts (「1月1日21時時点」) keep their own time whatever its age; who
-- loaded them and from where is kept with each event (the audit trail).
ALTER TABLE shelter_count_events DROP CONSTRAINT shelter_count_events_source_check;
ALTER TABLE shelter_count_events
    ADD CONSTRAINT shelter_count_events_source_check
        CHECK (source IN ('staff', 'door_counter', 'official')),
    ADD COLUMN entered_by  text,   -- a staff account, or the operating-system user of the CLI
    ADD COLUMN origin      text;   -- e.g. 'opened.csv: 人数_1月1日21時時点, line 7'
ALTER TABLE shelter_status_events
    ADD COLUMN entered_by  text,
    ADD COLUMN origin      text;

-- A staff session (one browser) may count for several shelters: one row per shelter
-- signed in with its code. Issuing a new code no longer ends these unless asked.
CREATE TABLE shelter_session_shelters (
    token_digest  text NOT NULL REFERENCES shelter_sessions (token_digest) ON DELETE CASCADE,
    shelter_id    text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE,
    signed_in_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_digest, shelter_id)
);
CREATE INDEX shelter_session_shelters_shelter ON shelter_session_shelters (shelter_id);
INSERT INTO shelter_session_shelters (token_digest, shelter_id, signed_in_at)
    SELECT token_digest, shelter_id, created_at FROM shelter_sessions;
DROP INDEX shelter_sessions_shelter;
ALTER TABLE shelter_sessions DROP COLUMN shelter_id;

-- Staff accounts (the alert console's) who count for shelters: a district lead has
-- several. Operators and above may count at their assigned shelters, admins at all.
CREATE TABLE shelter_assignments (
    user_id      bigint NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    shelter_id   text NOT NULL REFERENCES shelters (id) ON DELETE CASCADE,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, shelter_id)
);
CREATE INDEX shelter_assignments_shelter ON shelter_assignments (shelter_id);
