-- Live ingest workers, so that one can take over the MQTT session of a worker that
-- died for good: Mosquitto keeps routing a share of the shared subscription's
-- messages to a disconnected persistent session until that session ends.
CREATE TABLE ingest_workers (
    client_id   text PRIMARY KEY,
    host        text NOT NULL DEFAULT '',
    pid         integer,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);
