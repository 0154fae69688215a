-- Resident notifications, version 8: what is held for someone who has not finished
-- subscribing. Fan-out and the delivery workers never read these tables: nobody here
-- gets an alert. Everything expires after 48 hours and is deleted (notify/pending.py).

-- An e-mail subscription asked for on the public page or API waits here until the
-- resident opens the link in the confirmation e-mail (double opt-in); only then is it
-- written to subscriptions (a new one, or a change to an existing one). One request
-- per address: a newer request replaces it (at most one confirmation mail per address
-- every 10 minutes). Deleted when confirmed, when it expires, and on a deletion request.
CREATE TABLE subscription_requests (
    id              uuid PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('email')),
    language        text NOT NULL CHECK (language IN ('ja', 'en', 'ja-easy')),
    address_sealed  bytea NOT NULL,  -- sealed with the subscriber key, this id as associated data
    address_digest  text NOT NULL,   -- the same keyed hash as subscriptions.address_digest
    areas           text[] NOT NULL CHECK (cardinality(areas) > 0),
    cell_lat        real,
    cell_lon        real,
    confirm_digest  text NOT NULL UNIQUE,  -- SHA-256 of the single-use token in the link
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    UNIQUE (channel, address_digest)
);
CREATE INDEX subscription_requests_expiry ON subscription_requests (expires_at);

-- The language a LINE user chose before sending a location (there is no subscription
-- yet to hold it). Read when the location arrives; deleted on unfollow and after 48 h.
CREATE TABLE language_choices (
    channel         text NOT NULL,
    address_digest  text NOT NULL,   -- the same keyed hash as subscriptions.address_digest
    language        text NOT NULL CHECK (language IN ('ja', 'en', 'ja-easy')),
    chosen_at       timestamptz NOT NULL,
    PRIMARY KEY (channel, address_digest)
);
CREATE INDEX language_choices_age ON language_choices (chosen_at);
