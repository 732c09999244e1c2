-- Retention (Jeugdwet art. 7.3.8): a family's dossier is kept 20 years after
-- its last plan closed and then anonymised by `gezinsregie retention run`.
-- Ids, dates, levels and outcomes stay, so aggregate reports still count it.
ALTER TABLE families ADD COLUMN anonymised_at timestamptz;
COMMENT ON COLUMN families.anonymised_at IS 'When the dossier was anonymised after its retention period (names replaced, BSNs removed, birth dates coarsened, free text cleared); null while it holds personal data.';
