-- Key rotation (see src/crypto/keys.rs): every purpose key has versions; a
-- rotation retires the current version (with a date) and records the next,
-- so a server configured with the new key and the old one as "previous"
-- starts, while one with only the old key is refused.
ALTER TABLE key_fingerprints DROP CONSTRAINT key_fingerprints_pkey;
ALTER TABLE key_fingerprints ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE key_fingerprints ADD COLUMN retired_at timestamptz;
ALTER TABLE key_fingerprints ADD PRIMARY KEY (purpose, version);
CREATE UNIQUE INDEX key_fingerprints_one_current ON key_fingerprints (purpose) WHERE retired_at IS NULL;
COMMENT ON COLUMN key_fingerprints.version IS 'Version of the purpose key: 1 for the first, one more at every rotation. For audit_mac it is the key epoch of audit_chain.';
COMMENT ON COLUMN key_fingerprints.retired_at IS 'When a rotation replaced this version; NULL for the current one. Tokens of a retired signing key are accepted for one access-token lifetime after it.';

-- The audit MAC key epoch of every chain entry: the event's MAC and the
-- link were made with that epoch's key, so verification uses it.
ALTER TABLE audit_chain ADD COLUMN key_epoch integer NOT NULL DEFAULT 1;
COMMENT ON COLUMN audit_chain.key_epoch IS 'Version of the audit_mac key (key_fingerprints.version) that made the event''s MAC and this link.';
