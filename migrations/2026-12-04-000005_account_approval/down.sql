DROP TABLE account_approvals;
ALTER TABLE users DROP COLUMN approved;
