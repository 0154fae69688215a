-- Resident notifications, version 7: subscriptions (minimal personal data, addresses
-- encrypted by the application), the delivery queue fanned out from alert_outbox,
-- and the notification log that deduplication reads.

-- One subscription = one channel address (a push subscription, a LINE user, an email
-- address, a gateway recipient such as a phone or FAX number) and the alert areas it
-- wants. No names. A point (home, school) is stored only as the areas it matched and,
-- for the nearest-shelter block, a cell rounded to about 1 km.
CREATE TABLE subscriptions (
    id                  uuid PRIMARY KEY,
    channel             text NOT NULL CHECK (channel IN ('webpush', 'line', 'email', 'gateway')),
    language            text NOT NULL CHECK (language IN ('ja', 'en', 'ja-easy')),
    address_sealed      bytea NOT NULL,  -- the address, encrypted (AES-GCM) with the subscriber key
    address_digest      text NOT NULL,   -- keyed hash of the normalised address: finds duplicates
    areas               text[] NOT NULL CHECK (cardinality(areas) > 0),
    cell_lat            real,            -- rounded point for nearby shelters, or NULL
    cell_lon            real,
    unsubscribe_digest  text NOT NULL UNIQUE,  -- SHA-256 of the unsubscribe token in every message
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, address_digest)
);
CREATE INDEX subscriptions_areas ON subscriptions USING gin (areas);

-- The work queue: one row per (outbox message, subscription). Workers claim rows with
-- SELECT … FOR UPDATE SKIP LOCKED and a lease; a row whose lease ran out (its worker
-- was killed) is claimed again. Deleting a subscription deletes its queued work.
CREATE TABLE deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id        bigint NOT NULL REFERENCES alert_outbox (id),
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    alert_id         bigint NOT NULL,   -- copied from the outbox row: supersede and dedup read them
    version          integer NOT NULL,
    channel          text NOT NULL,     -- copied from the subscription: per-channel concurrency
    state            text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'delivered', 'failed', 'gone', 'expired', 'superseded')),
    attempts         integer NOT NULL DEFAULT 0,
    not_before       timestamptz NOT NULL,  -- next attempt (backoff with jitter)
    deadline         timestamptz NOT NULL,  -- retries stop here
    claimed_by       text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    UNIQUE (outbox_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (channel, not_before, id) WHERE state = 'queued';
CREATE INDEX deliveries_alert ON deliveries (alert_id, subscription_id, version);

-- alert_id, version and channel are copies (fan-out writes them); a row inserted
-- without them gets them from its outbox row and subscription.
CREATE FUNCTION deliveries_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alert_id IS NULL OR NEW.version IS NULL THEN
        SELECT o.alert_id, o.version INTO NEW.alert_id, NEW.version FROM alert_outbox o WHERE o.id = NEW.outbox_id;
    END IF;
    IF NEW.channel IS NULL THEN
        SELECT s.channel INTO NEW.channel FROM subscriptions s WHERE s.id = NEW.subscription_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER deliveries_fill BEFORE INSERT ON deliveries
    FOR EACH ROW WHEN (NEW.alert_id IS NULL OR NEW.version IS NULL OR NEW.channel IS NULL)
    EXECUTE FUNCTION deliveries_fill();

-- Every attempt: what was sent to which subscription on which channel and what came of
-- it. Holds no address, only the subscription id (deleted with the subscription).
CREATE TABLE notification_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    alert_id         bigint NOT NULL REFERENCES alerts (id),
    version          integer NOT NULL,
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    channel          text NOT NULL,
    attempt          integer NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'gone')),
    status           integer,   -- the peer's answer (HTTP / SMTP code)
    provider_id      text,      -- the provider's id for the message, when it gives one
    detail           text NOT NULL DEFAULT '',
    at               timestamptz NOT NULL,
    UNIQUE (delivery_id, attempt)
);
CREATE INDEX notification_log_alert ON notification_log (alert_id, version);

-- Subscribe requests by client address, for rate limiting (no other data kept).
CREATE TABLE subscribe_attempts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client  text NOT NULL,  -- keyed hash of the client address
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribe_attempts_client ON subscribe_attempts (client, at);

-- LINE webhook events already handled (LINE redelivers; each event is acted on once).
CREATE TABLE line_events (
    event_id     text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
