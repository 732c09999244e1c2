-- Issue 15 item 4: a password check is reserved in this row before the hash
-- runs, so concurrent logins cannot check more passwords than the threshold.
ALTER TABLE login_failures ADD COLUMN checks_in_flight integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN login_failures.checks_in_flight IS 'Password checks reserved and not yet finished; a successful login forgets the window only when none is left.';
COMMENT ON COLUMN login_failures.failure_count IS 'Password checks reserved in the current window (failed or still running).';
COMMENT ON TABLE login_failures IS 'Password checks per username or client (existing or not, so lockout does not reveal accounts).';
