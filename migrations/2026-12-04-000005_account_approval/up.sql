-- Issue 15 item 8: an account that sees a municipality's personal data and
-- whose credentials an admin set (created it, or reset its password) stays
-- inert until a team lead of that municipality approves it, so an admin
-- cannot make or take over an account and read BSNs with it. Accounts made
-- on the host (`gezinsregie create-user`), the demo and existing accounts
-- are approved: the column defaults to true and only the admin endpoints
-- set it to false.
ALTER TABLE users ADD COLUMN approved boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN users.approved IS 'False while an admin-set credential awaits the approval of a team lead of the account''s municipality; a login is refused until then.';

CREATE TABLE account_approvals (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id),
    municipality_code text NOT NULL REFERENCES municipalities (code),
    reason            text NOT NULL CHECK (reason IN ('created', 'password_reset')),
    requested_by      uuid REFERENCES users (id),
    requested_at      timestamptz NOT NULL DEFAULT now(),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'superseded')),
    decided_by        uuid REFERENCES users (id),
    decided_at        timestamptz,
    -- Decided exactly when no longer pending; approved only by someone else.
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'approved') = (decided_by IS NOT NULL)),
    CHECK (decided_by IS DISTINCT FROM user_id),
    CHECK (decided_by IS DISTINCT FROM requested_by)
);
-- At most one open request per account.
CREATE UNIQUE INDEX account_approvals_one_pending ON account_approvals (user_id) WHERE status = 'pending';
CREATE INDEX account_approvals_by_municipality ON account_approvals (municipality_code, id);

COMMENT ON TABLE account_approvals IS 'Admin-set credentials of accounts that see personal data (created or password reset), and the team lead who approved each (issue 15 item 8).';
COMMENT ON COLUMN account_approvals.id IS 'UUID v7 of the request.';
COMMENT ON COLUMN account_approvals.user_id IS 'The account waiting for approval.';
COMMENT ON COLUMN account_approvals.municipality_code IS 'The account''s municipality: its team leads approve, its team leads and auditors see the request.';
COMMENT ON COLUMN account_approvals.reason IS 'created (an admin created the account) or password_reset (an admin set its password).';
COMMENT ON COLUMN account_approvals.requested_by IS 'The admin who set the credential.';
COMMENT ON COLUMN account_approvals.requested_at IS 'When the admin set it.';
COMMENT ON COLUMN account_approvals.status IS 'pending, approved, or superseded (a later admin change opened a new request).';
COMMENT ON COLUMN account_approvals.decided_by IS 'The team lead who approved it.';
COMMENT ON COLUMN account_approvals.decided_at IS 'When it was approved or superseded.';
