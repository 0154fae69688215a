-- Turn readings into a TimescaleDB hypertable when the extension can be loaded.
-- On plain PostgreSQL this migration does nothing, and every query works on both
-- (time buckets use date_bin, not time_bucket).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('readings', 'time',
                                  chunk_time_interval => INTERVAL '7 days',
                                  migrate_data => true, if_not_exists => true);
        ALTER TABLE readings SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'station_id',
                                  timescaledb.compress_orderby = 'time DESC');
    END IF;
END
$$;
