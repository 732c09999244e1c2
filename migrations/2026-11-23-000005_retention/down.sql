ALTER TABLE families DROP COLUMN anonymised_at;
