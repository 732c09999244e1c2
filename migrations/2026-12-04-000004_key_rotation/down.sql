ALTER TABLE audit_chain DROP COLUMN key_epoch;
DROP INDEX key_fingerprints_one_current;
DELETE FROM key_fingerprints WHERE retired_at IS NOT NULL;
ALTER TABLE key_fingerprints DROP CONSTRAINT key_fingerprints_pkey;
ALTER TABLE key_fingerprints DROP COLUMN retired_at;
ALTER TABLE key_fingerprints DROP COLUMN version;
ALTER TABLE key_fingerprints ADD PRIMARY KEY (purpose);
