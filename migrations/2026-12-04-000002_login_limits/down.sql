ALTER TABLE login_failures DROP COLUMN checks_in_flight;
COMMENT ON COLUMN login_failures.failure_count IS 'Failures in the current 15-minute window.';
COMMENT ON TABLE login_failures IS 'Failed logins per username (existing or not, so lockout does not reveal accounts).';
