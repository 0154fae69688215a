-- What /api/health reads, and the signal that keeps ingest's device registry fresh.

-- Ingest workers say in their heartbeat whether they are connected to the broker.
ALTER TABLE ingest_workers ADD COLUMN broker_connected boolean NOT NULL DEFAULT false;

-- Heartbeats of the other long-running services (the alert evaluator): one row each.
CREATE TABLE service_heartbeats (
    service    text PRIMARY KEY,
    host       text NOT NULL DEFAULT '',
    pid        integer,
    last_seen  timestamptz NOT NULL DEFAULT now()
);

-- A changed device or station (registered, re-installed, moved, retired, its range
-- edited) wakes ingest to reload its registry at once instead of after its 30-s refresh
-- (a re-registered gauge's readings were dead-lettered as before_install meanwhile).
CREATE FUNCTION notify_devices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kawamori_devices', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();
CREATE TRIGGER stations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stations
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();
