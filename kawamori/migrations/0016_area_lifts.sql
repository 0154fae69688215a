-- When each area's issuances were lifted (alerts.store._last_lifts): a new issuance
-- soon after its area's last lift is held for the policy's flap hold. The partial
-- indexes on open alerts do not cover resolved ones; without this, every issuance
-- that opens would read the whole alerts table.
CREATE INDEX alerts_area_lifts ON alerts (fingerprint, ended_at DESC)
    WHERE kind = 'area' AND state = 'resolved';
