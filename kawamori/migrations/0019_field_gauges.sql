-- Gauges on LoRaWAN (issue 22): the network server (ChirpStack v4 or The Things Stack
-- v3) names a gauge by its DevEUI; `kawamori device lorawan` maps it to the device id
-- under which its readings are stored, and records where its downlinks go.
CREATE TABLE lorawan_devices (
    dev_eui        text PRIMARY KEY CHECK (dev_eui ~ '^[0-9A-F]{16}$'),
    device_id      text NOT NULL UNIQUE REFERENCES devices (id) ON DELETE CASCADE,
    network_server text NOT NULL CHECK (network_server IN ('chirpstack', 'tts')),
    application    text NOT NULL CHECK (application <> ''),  -- ChirpStack: application id; TTS: app[@tenant]
    ns_device      text,  -- The Things Stack's own device id (its downlink topics use it)
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (network_server = 'chirpstack' OR ns_device IS NOT NULL)
);
-- a new or moved DevEUI wakes ingest to reload its map at once (as devices do, 0012)
CREATE TRIGGER lorawan_devices_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lorawan_devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();

-- What a gauge says about itself beyond the fixed columns (issue 22): its status
-- message's other keys (reset cause, last error, `fault`, `brown`, `lowbat`, …), so a
-- dying battery, a dead sensor or a rolled-back update is visible, not only sent.
-- Scalars only, bounded by ingest; an offline will (no keys) keeps the last ones.
ALTER TABLE device_status ADD COLUMN extra jsonb NOT NULL DEFAULT '{}';
