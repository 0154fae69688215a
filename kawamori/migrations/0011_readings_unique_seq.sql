-- One reading per (device, seq), enforced by the database and not only by ingest's
-- check (which saw committed rows only: one message carrying two readings with the same
-- seq stored both, and two workers could race the same way).
--
-- Rows that already break the rule are not lost: all but the first received of each
-- (device, seq) move to dead_letters with reason 'seq_reused', as ingest now does.
WITH ranked AS (
    SELECT station_id, time,
           row_number() OVER (PARTITION BY device_id, seq ORDER BY received_at, time) AS n
    FROM readings
    WHERE device_id IS NOT NULL AND seq IS NOT NULL
),
moved AS (
    DELETE FROM readings r USING ranked k
    WHERE k.n > 1 AND r.station_id = k.station_id AND r.time = k.time
    RETURNING r.*
)
INSERT INTO dead_letters (received_at, topic, device_id, reason, detail, payload, payload_size)
SELECT received_at, 'kawamori/v1/' || device_id || '/reading', device_id, 'seq_reused',
       'migration 0011: seq ' || seq || ' was stored twice; kept the first received',
       convert_to(payload::text, 'UTF8'), octet_length(payload::text)
FROM (SELECT m.*, jsonb_build_object('v', 1, 'seq', m.seq, 'level', m.level_m,
                                      't', extract(epoch FROM m.time)) AS payload
      FROM moved m) AS rows;

DO $$
DECLARE
    hypertable boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- (planned only here: the view exists only with the extension)
        hypertable := EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                              WHERE hypertable_name = 'readings');
    END IF;
    IF hypertable THEN
        -- A hypertable's unique indexes must contain its time column, so the rule lives
        -- in a small side table that a trigger fills in the same transaction: a second
        -- (device, seq) fails the insert, and ingest re-plans (and then sees the first).
        CREATE TABLE reading_seqs (
            device_id  text NOT NULL,
            seq        bigint NOT NULL,
            time       timestamptz NOT NULL,
            PRIMARY KEY (device_id, seq)
        );
        INSERT INTO reading_seqs SELECT device_id, seq, time FROM readings
            WHERE device_id IS NOT NULL AND seq IS NOT NULL;
        CREATE FUNCTION reading_seqs_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
            IF NEW.device_id IS NOT NULL AND NEW.seq IS NOT NULL THEN
                INSERT INTO reading_seqs VALUES (NEW.device_id, NEW.seq, NEW.time);
            END IF;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER readings_unique_seq AFTER INSERT ON readings
            FOR EACH ROW EXECUTE FUNCTION reading_seqs_insert();
    ELSE
        CREATE UNIQUE INDEX readings_device_seq_key ON readings (device_id, seq);
        DROP INDEX readings_device_seq;
    END IF;
END
$$;
