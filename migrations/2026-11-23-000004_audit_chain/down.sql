DROP INDEX audit_events_time;
DROP TABLE audit_chain;
DROP TRIGGER audit_events_enqueue ON audit_events;
DROP FUNCTION audit_events_enqueue();
DROP TABLE audit_unsealed;
DROP TABLE audit_legacy;
ALTER TABLE audit_events ALTER COLUMN occurred_at SET DEFAULT clock_timestamp();
ALTER TABLE audit_events DROP COLUMN row_mac;
