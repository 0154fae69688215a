-- A database role per service, none a superuser, none owning a table (issue 20,
-- finding 5: every service, the public dashboard included, connected as a superuser).
-- Migrations run as the owner (the migration role: KAWAMORI_DATABASE_URL of
-- `kawamori migrate`); the services log in as these, with passwords set by
-- `kawamori migrate` from KAWAMORI_DB_PASSWORD_<SERVICE> (kawamori/roles.py).
-- Roles belong to the cluster, so they are created only if missing; grants belong to
-- this database. Every service reads every table; each writes only what it owns.
DO $$
DECLARE
    service text;
BEGIN
    FOREACH service IN ARRAY ARRAY['kawamori_ingest', 'kawamori_alerts', 'kawamori_notify',
                                   'kawamori_shelters', 'kawamori_dashboard'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', service);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', service);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', service);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', service);
        -- tables later migrations create are readable too
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', service);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', service);
    END LOOP;
    IF to_regclass('reading_seqs') IS NOT NULL THEN  -- TimescaleDB (migration 0011)
        GRANT INSERT ON reading_seqs TO kawamori_ingest;
    END IF;
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- ingest: readings, their rejections, device health, its workers' heartbeats
GRANT INSERT ON readings, dead_letters TO kawamori_ingest;
GRANT INSERT, UPDATE ON device_status TO kawamori_ingest;
GRANT INSERT, UPDATE, DELETE ON ingest_workers TO kawamori_ingest;

-- the alert evaluator: stations' judgement, alerts and their trail, readings' QC flags
GRANT INSERT, UPDATE, DELETE ON station_status, alerts, alert_approvals, alert_audit, alert_outbox,
    service_heartbeats TO kawamori_alerts;
GRANT UPDATE (quality) ON readings TO kawamori_alerts;

-- the delivery workers: deliveries, their log, gone subscriptions, the outbox's progress
GRANT INSERT, UPDATE, DELETE ON deliveries, notification_log, subscriptions TO kawamori_notify;
GRANT UPDATE ON alert_outbox TO kawamori_notify;

-- the door-counter listener
GRANT INSERT, UPDATE ON shelters, shelter_count_events, shelter_status_events, shelter_counters
    TO kawamori_shelters;
GRANT INSERT ON dead_letters TO kawamori_shelters;

-- the dashboard: staff and residents act on most tables, and on those later migrations
-- add; never on what ingest and the evaluator own
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kawamori_dashboard;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT, UPDATE, DELETE ON TABLES TO kawamori_dashboard;
REVOKE INSERT, UPDATE, DELETE ON readings, dead_letters, device_status, ingest_workers, service_heartbeats,
    schema_migrations FROM kawamori_dashboard;
