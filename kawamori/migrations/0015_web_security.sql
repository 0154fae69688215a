-- Web and API hardening (issue 20): sign-in throttling per (user, client), per client
-- and per known browser; a forced password change; TOTP for approvers and admins;
-- throttling of shelter access codes; LINE events purged by age.

-- A failure from a known browser (its device cookie's SHA-256) counts only against that
-- browser, so nobody else can lock a person out of the browser they always use.
ALTER TABLE staff_login_failures ADD COLUMN device text;
CREATE INDEX staff_login_failures_device ON staff_login_failures (device, failed_at)
    WHERE device IS NOT NULL;

-- Browsers that have signed in to an account (only the SHA-256 of the cookie is kept).
CREATE TABLE staff_devices (
    digest      text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    last_used   timestamptz NOT NULL
);
CREATE INDEX staff_devices_user ON staff_devices (user_id);

ALTER TABLE staff_users
    -- set for a generated password (the first admin): the next sign-in must choose one
    ADD COLUMN must_change_password  boolean NOT NULL DEFAULT false,
    -- RFC 6238 secret (base32); required at sign-in once set
    ADD COLUMN totp_secret           text,
    -- the last 30-second step accepted: a code is never accepted twice
    ADD COLUMN totp_last_step        bigint;

-- Failed shelter access-code sign-ins, for throttling per client address.
CREATE TABLE shelter_login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client     text NOT NULL,
    failed_at  timestamptz NOT NULL
);
CREATE INDEX shelter_login_failures_client ON shelter_login_failures (client, failed_at);

CREATE INDEX line_events_received ON line_events (received_at);
