-- Tamper evidence for the audit trail (see src/audit/chain.rs for the design).
--
-- Requests never wait on a shared lock for it: each event carries a MAC the
-- server computed over its content when it wrote it (so an event inserted or
-- edited behind the server's back fails the check), and a background sealer,
-- one at a time across all server processes, links committed events into a
-- hash chain (so an event removed afterwards leaves a hole in the chain).

ALTER TABLE audit_events ADD COLUMN row_mac bytea;
COMMENT ON COLUMN audit_events.row_mac IS 'HMAC-SHA256 of the event''s content under the server''s audit key, computed when it was written; NULL only for events written before tamper evidence existed.';
ALTER TABLE audit_events ALTER COLUMN occurred_at DROP DEFAULT;
COMMENT ON COLUMN audit_events.occurred_at IS 'When the action happened; set by the server (microseconds) because it is covered by row_mac.';

-- Events written before this migration have no MAC; they are sealed with the
-- MAC of their content as found now. Any later event without one is forged.
CREATE TABLE audit_legacy (
    max_seq bigint NOT NULL
);
INSERT INTO audit_legacy SELECT coalesce(max(seq), 0) FROM audit_events;
COMMENT ON TABLE audit_legacy IS 'One row: the last event written before events carried a MAC.';
COMMENT ON COLUMN audit_legacy.max_seq IS 'Events up to this seq may lack row_mac; later ones may not.';

-- Committed events not yet linked into the chain. A row appears in the same
-- transaction as its event (trigger below), so the sealer sees exactly the
-- committed events, in whatever order transactions commit.
CREATE TABLE audit_unsealed (
    seq bigint PRIMARY KEY
);
COMMENT ON TABLE audit_unsealed IS 'Queue of committed audit events waiting to be linked into audit_chain by the sealer.';
COMMENT ON COLUMN audit_unsealed.seq IS 'seq of the waiting audit event.';
INSERT INTO audit_unsealed SELECT seq FROM audit_events;

CREATE FUNCTION audit_events_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_unsealed (seq) VALUES (NEW.seq);
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_enqueue
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_enqueue();

CREATE TABLE audit_chain (
    position     bigint PRIMARY KEY CHECK (position > 0),
    seq          bigint NOT NULL UNIQUE,
    occurred_at  timestamptz NOT NULL,
    row_mac      bytea NOT NULL CHECK (octet_length(row_mac) = 32),
    link         bytea NOT NULL CHECK (octet_length(link) = 32),
    sealed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_chain_time ON audit_chain (occurred_at, position);
COMMENT ON TABLE audit_chain IS 'Hash chain over the audit trail, in the order events were sealed: link(n) = HMAC(key, link(n-1) || position || seq || row_mac).';
COMMENT ON COLUMN audit_chain.position IS 'Place in the chain: 1, 2, 3, ... without gaps.';
COMMENT ON COLUMN audit_chain.seq IS 'The audit event this link seals.';
COMMENT ON COLUMN audit_chain.occurred_at IS 'occurred_at of the event, so a period can be verified without it.';
COMMENT ON COLUMN audit_chain.row_mac IS 'The event''s MAC when it was sealed.';
COMMENT ON COLUMN audit_chain.link IS 'HMAC-SHA256 chaining this entry to the previous one.';
COMMENT ON COLUMN audit_chain.sealed_at IS 'When the sealer linked the event.';

CREATE TRIGGER audit_chain_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_chain_no_truncate
    BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_legacy_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_legacy
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Audit queries by time across municipalities (verify, admin listing).
CREATE INDEX audit_events_time ON audit_events (occurred_at, seq);
