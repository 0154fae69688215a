-- Fan-out writes one deliveries row per subscription (100,000 for a large alert), and
-- the two per-row foreign-key checks cost as much as the insert itself (0.7 s of 1.6 s
-- in the notification benchmark), so they go:
-- * outbox_id: outbox rows are never deleted, and fan-out holds the row it inserts for.
-- * subscription_id: deleting a subscription still deletes its queued work, by the
--   trigger below. A fan-out that read a subscription just before it was deleted can
--   still commit a delivery for it afterwards; the worker's claim deletes such a row
--   (it has no address to send to) instead of sending it.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_outbox_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_subscription_id_fkey;

CREATE FUNCTION subscriptions_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries d USING old_rows o WHERE d.subscription_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_forget AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_forget();

-- One index fewer to write: a delivery is one (alert, version, subscription), which the
-- supersede and earlier-audience index already names ((alert_id, version) is unique in
-- alert_outbox), so that index becomes the unique one.
CREATE UNIQUE INDEX deliveries_once ON deliveries (alert_id, subscription_id, version);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_outbox_id_subscription_id_key;
DROP INDEX deliveries_alert;
