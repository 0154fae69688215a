-- Kawamori core schema, version 1.
-- Levels are metres above each station's gauge datum; times are timestamptz (UTC on the wire).

CREATE TABLE stations (
    id                 text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name_ja            text NOT NULL,
    name_en            text NOT NULL,
    river_ja           text NOT NULL,
    river_en           text NOT NULL,
    latitude           double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude          double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    datum_elevation_m  double precision,
    mount_height_m     double precision NOT NULL,
    level_min_m        double precision NOT NULL,
    level_max_m        double precision NOT NULL,
    -- ordered list of {key, name_ja, name_en, level_m, alert_level}; validated by kawamori.model
    stages             jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(stages) = 'array'),
    downstream_id      text REFERENCES stations (id) DEFERRABLE INITIALLY DEFERRED,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (level_min_m < level_max_m AND level_max_m <= mount_height_m)
);

-- A device is a sensor board; its id is its MQTT user name. Replacing a board means
-- retiring one device and assigning another to the same station: readings belong to
-- the station, so its history is kept.
CREATE TABLE devices (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    station_id    text REFERENCES stations (id),
    note          text NOT NULL DEFAULT '',
    installed_at  timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_station ON devices (station_id);

-- Latest health of each device, from its retained status messages and its readings.
CREATE TABLE device_status (
    device_id       text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    online          boolean,
    last_seen       timestamptz,
    last_seq        bigint,
    firmware        text,
    battery_v       real,
    rssi_dbm        smallint,
    uptime_s        bigint,
    buffered        integer,
    dropped         bigint,
    config_version  integer,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE readings (
    station_id   text NOT NULL REFERENCES stations (id),
    time         timestamptz NOT NULL,
    level_m      double precision NOT NULL,
    device_id    text REFERENCES devices (id),
    seq          bigint,
    distance_m   double precision,
    battery_v    real,
    rssi_dbm     smallint,
    quality      integer NOT NULL DEFAULT 0,  -- kawamori.model.Quality bit set
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, time)
);
CREATE INDEX readings_device_seq ON readings (device_id, seq);

-- Everything that was received and not stored, with the reason. Payloads are bounded.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text NOT NULL,
    device_id     text,
    reason        text NOT NULL,
    detail        text NOT NULL DEFAULT '',
    payload       bytea NOT NULL,
    payload_size  integer NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE INDEX dead_letters_reason ON dead_letters (reason);

CREATE TABLE shelters (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name_ja     text NOT NULL,
    name_en     text NOT NULL,
    address     text NOT NULL DEFAULT '',
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    capacity    integer NOT NULL CHECK (capacity >= 0),
    hazards     text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'closed' CHECK (status IN ('preparing', 'open', 'closed')),
    occupancy   integer NOT NULL DEFAULT 0 CHECK (occupancy >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Areas residents subscribe to; geometry is a GeoJSON (RFC 7946) Polygon/MultiPolygon.
CREATE TABLE alert_areas (
    id        text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name_ja   text NOT NULL,
    name_en   text NOT NULL,
    geometry  jsonb NOT NULL CHECK (geometry ->> 'type' IN ('Polygon', 'MultiPolygon'))
);

CREATE TABLE alert_area_stations (
    area_id     text NOT NULL REFERENCES alert_areas (id) ON DELETE CASCADE,
    station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    PRIMARY KEY (area_id, station_id)
);

-- The alert evaluator's current judgement of each station (written by alerts/).
CREATE TABLE station_status (
    station_id    text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
    reading_time  timestamptz NOT NULL,
    level_m       double precision NOT NULL,
    stage_key     text,
    alert_level   smallint,
    evaluated_at  timestamptz NOT NULL
);
