-- What the staff map and the hydrograph read instead of scanning readings (issue 19):
--
-- * station_latest: each station's newest reading, kept current as readings are stored
--   (a late reading older than the newest changes nothing).
-- * reading_rollups: per station and hour, the minimum, maximum, sum and count of the
--   levels, so that a year's hydrograph reads 8,760 rows and a one-reading peak is
--   never averaged away (the maximum is kept, not only the mean).
--
-- On plain PostgreSQL both are tables kept by one statement-level trigger on readings
-- (one upsert per station and hour per ingest batch, whoever inserts: ingest, the
-- simulator, an import). On TimescaleDB, reading_rollups is a continuous aggregate
-- (transition tables are not allowed on hypertables) and station_latest a row trigger.
-- The trigger functions run as their owner: ingest needs no write grant on either.
CREATE TABLE station_latest (
    station_id  text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
    time        timestamptz NOT NULL,
    level_m     double precision NOT NULL,
    quality     integer NOT NULL DEFAULT 0
);
INSERT INTO station_latest (station_id, time, level_m, quality)
SELECT DISTINCT ON (station_id) station_id, time, level_m, quality
FROM readings ORDER BY station_id, time DESC;

DO $$
DECLARE
    hypertable boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        hypertable := EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                              WHERE hypertable_name = 'readings');
    END IF;
    IF hypertable THEN
        CREATE FUNCTION station_latest_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = public AS $f$
        BEGIN
            INSERT INTO station_latest AS l (station_id, time, level_m, quality)
            VALUES (NEW.station_id, NEW.time, NEW.level_m, NEW.quality)
            ON CONFLICT (station_id) DO UPDATE
                SET time = excluded.time, level_m = excluded.level_m, quality = excluded.quality
                WHERE excluded.time >= l.time;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER readings_latest AFTER INSERT ON readings
            FOR EACH ROW EXECUTE FUNCTION station_latest_row();
        EXECUTE $v$
            CREATE MATERIALIZED VIEW reading_rollups WITH (timescaledb.continuous,
                                                           timescaledb.materialized_only = false) AS
            SELECT station_id, time_bucket(INTERVAL '1 hour', time) AS hour,
                   min(level_m) AS min_m, max(level_m) AS max_m, sum(level_m) AS sum_m,
                   count(*) AS n
            FROM readings GROUP BY station_id, time_bucket(INTERVAL '1 hour', time)
            WITH NO DATA $v$;
        PERFORM add_continuous_aggregate_policy('reading_rollups',
            start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '5 minutes');
    ELSE
        CREATE TABLE reading_rollups (
            station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
            hour        timestamptz NOT NULL,
            min_m       double precision NOT NULL,
            max_m       double precision NOT NULL,
            sum_m       double precision NOT NULL,
            n           bigint NOT NULL,
            PRIMARY KEY (station_id, hour)
        );
        INSERT INTO reading_rollups
        SELECT station_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01'),
               min(level_m), max(level_m), sum(level_m), count(*)
        FROM readings GROUP BY 1, 2;
        CREATE FUNCTION readings_kept_current() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = public AS $f$
        BEGIN
            INSERT INTO station_latest AS l (station_id, time, level_m, quality)
            SELECT DISTINCT ON (station_id) station_id, time, level_m, quality
            FROM inserted ORDER BY station_id, time DESC
            ON CONFLICT (station_id) DO UPDATE
                SET time = excluded.time, level_m = excluded.level_m, quality = excluded.quality
                WHERE excluded.time >= l.time;
            INSERT INTO reading_rollups AS r (station_id, hour, min_m, max_m, sum_m, n)
            SELECT station_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01'),
                   min(level_m), max(level_m), sum(level_m), count(*)
            FROM inserted GROUP BY 1, 2
            ON CONFLICT (station_id, hour) DO UPDATE
                SET min_m = least(r.min_m, excluded.min_m), max_m = greatest(r.max_m, excluded.max_m),
                    sum_m = r.sum_m + excluded.sum_m, n = r.n + excluded.n;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER readings_kept_current AFTER INSERT ON readings
            REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION readings_kept_current();
    END IF;
END
$$;

-- written by the triggers only (as their owner); every service reads them
REVOKE INSERT, UPDATE, DELETE ON station_latest FROM kawamori_dashboard;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'reading_rollups') THEN
        REVOKE INSERT, UPDATE, DELETE ON reading_rollups FROM kawamori_dashboard;
    END IF;
END
$$;
