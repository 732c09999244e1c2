-- Fingerprints of the purpose keys the data was written with (see
-- src/crypto/keys.rs): a server started with other secrets refuses to start
-- instead of writing data that nobody can read later.
CREATE TABLE key_fingerprints (
    purpose     text PRIMARY KEY,
    fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE key_fingerprints IS 'One fingerprint per purpose key (HMAC of a fixed text under the key): tells keys apart without revealing them.';
COMMENT ON COLUMN key_fingerprints.purpose IS 'The purpose of the key: token_signing, bsn_encryption, callback_secrets, bsn_hash or audit_mac.';
COMMENT ON COLUMN key_fingerprints.fingerprint IS 'HMAC-SHA256 of "gezinsregie key fingerprint" under the key.';
COMMENT ON COLUMN key_fingerprints.recorded_at IS 'When the first server with this key started on the database.';
