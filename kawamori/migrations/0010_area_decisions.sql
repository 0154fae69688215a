-- Evacuation decisions per area (alerts.decision): an alert of kind 'area' is one
-- issuance of a level for one area (発令地区), from its first public level to its lift
-- or retraction, with at most one open proposal (raise / lower / lift / verify) whose
-- level is pending_level (0: lift). Stations' stage and forecast conditions are its
-- evidence and no longer alerts of their own; staff notices (unverified, sensor,
-- offline) stay per station.

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('stage', 'forecast', 'unverified', 'sensor', 'offline', 'area'));
ALTER TABLE alerts DROP CONSTRAINT alerts_pending_level_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_pending_level_check CHECK (pending_level BETWEEN 0 AND 5);

ALTER TABLE alerts
    ADD COLUMN area_id          text,  -- an alert_areas id, or a station id for a station without an area
    ADD COLUMN proposal         text CHECK (proposal IN ('raise', 'lower', 'lift', 'verify')),
    ADD COLUMN proposal_reason  text,  -- observed, forecast, unverified, sensor_fault, no_data
    -- counted up whenever the proposal's kind or level changes: an approval names the
    -- revision it was given for, so a stale browser cannot approve what it has not seen
    ADD COLUMN revision         integer NOT NULL DEFAULT 0,
    -- the proposal staff declined ('<proposal>:<level>'): not made again unchanged
    ADD COLUMN declined         text,
    ADD CONSTRAINT alerts_area_has_an_area CHECK ((kind = 'area') = (area_id IS NOT NULL)),
    ADD CONSTRAINT alerts_proposal_has_a_level CHECK ((proposal IS NULL) = (pending_level IS NULL) OR kind <> 'area');

DROP INDEX alerts_live;
DROP INDEX alerts_live_station;
CREATE UNIQUE INDEX alerts_live ON alerts (fingerprint)
    WHERE state IN ('pending', 'active') OR suppressed_level IS NOT NULL OR declined IS NOT NULL;
CREATE INDEX alerts_live_station ON alerts (station_id)
    WHERE kind <> 'area' AND (state IN ('pending', 'active') OR suppressed_level IS NOT NULL);

ALTER TABLE alert_approvals ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE alert_approvals DROP CONSTRAINT alert_approvals_pkey;
ALTER TABLE alert_approvals ADD PRIMARY KEY (alert_id, revision, level, user_id);

-- Existing alerts. A stage or forecast alert awaiting approval was never public: it is
-- withdrawn, and the evaluator proposes again for the area on its next tick.
INSERT INTO alert_audit (alert_id, at, action, from_state, to_state, reason, details)
SELECT id, now(), 'withdrawn', state, 'withdrawn',
       'proposals are now made per area (migration 0010); the evaluator proposes again', '{}'
FROM alerts WHERE kind IN ('stage', 'forecast') AND state = 'pending';
UPDATE alerts SET state = 'withdrawn', ended_at = now(), pending_level = NULL, pending_stage = NULL,
                  suppressed_level = NULL
WHERE kind IN ('stage', 'forecast') AND state = 'pending';
UPDATE alerts SET suppressed_level = NULL
WHERE kind IN ('stage', 'forecast') AND state NOT IN ('pending', 'active');

-- A public one becomes its area's issuance, keeping its id, versions and CAP references:
-- per area (its first area, or its station for a station without one) and status, the
-- highest level (then the oldest) is kept; an escalation it awaited is asked again.
WITH ranked AS (
    SELECT id, coalesce(areas[1], station_id) AS area,
           row_number() OVER (PARTITION BY coalesce(areas[1], station_id), status
                              ORDER BY alert_level DESC NULLS LAST, opened_at, id) AS n
    FROM alerts WHERE kind IN ('stage', 'forecast') AND state = 'active'
), kept AS (
    UPDATE alerts a
    SET kind = 'area', area_id = r.area, areas = ARRAY[r.area],
        fingerprint = CASE WHEN a.status = 'Actual' THEN 'area:' || r.area
                           ELSE 'area:' || r.area || ':' || a.status END,
        pending_level = NULL, pending_stage = NULL, suppressed_level = NULL, revision = 1,
        details = jsonb_build_object('basis', CASE WHEN a.kind = 'forecast' THEN 'forecast' ELSE 'observed' END)
                  || a.details
    FROM ranked r WHERE a.id = r.id AND r.n = 1
    RETURNING a.id
)
INSERT INTO alert_audit (alert_id, at, action, from_state, to_state, reason, details)
SELECT id, now(), 'changed', 'active', 'active',
       'this alert is now its area''s issuance (migration 0010)', '{}'
FROM kept;

-- Any other public one in the same area is merged into the issuance kept above: its
-- residents are covered by that issuance, which goes on until staff lift it.
INSERT INTO alert_audit (alert_id, at, action, from_state, to_state, reason, details)
SELECT a.id, now(), 'superseded', a.state, 'resolved',
       'merged into its area''s issuance (migration 0010)', jsonb_build_object('area', coalesce(a.areas[1], a.station_id))
FROM alerts a WHERE a.kind IN ('stage', 'forecast') AND a.state = 'active';
UPDATE alerts SET state = 'resolved', ended_at = now(), pending_level = NULL, pending_stage = NULL
WHERE kind IN ('stage', 'forecast') AND state = 'active';
