-- Issue 15 item 3: a referral grants nothing before the municipality accepts
-- it. Care a referral requests waits for that acceptance
-- (`awaiting_referral_id`): until then its provider gets nothing from it (no
-- plan read, no start, no work-list entry), and it can never run. A decided
-- referral leaves no care waiting for it: acceptance releases it, a decline
-- withdraws it. A BSN match whose name or birth date disagree goes to review
-- under its own match basis.

ALTER TABLE involvements ADD COLUMN awaiting_referral_id uuid REFERENCES referrals (id);
COMMENT ON COLUMN involvements.awaiting_referral_id IS 'Referral whose acceptance this requested care waits for; until then it grants its provider nothing and cannot start. Null once accepted, or when no referral brought it.';

-- Care requested by referrals not yet decided waits for them from now on.
UPDATE involvements i SET awaiting_referral_id = r.id
  FROM referrals r
 WHERE r.involvement_id = i.id AND r.involvement_created
   AND r.status IN ('received', 'needs_review', 'matched')
   AND i.status = 'requested';

ALTER TABLE involvements ADD CONSTRAINT involvements_awaiting_not_started
    CHECK (awaiting_referral_id IS NULL OR status <> 'active');
CREATE INDEX involvements_awaiting ON involvements (awaiting_referral_id)
    WHERE awaiting_referral_id IS NOT NULL;

-- A decided referral has no care still waiting for it. Deferred: a decision
-- changes the referral and its care in one transaction, in either order.
CREATE FUNCTION check_referral_leaves_nothing_waiting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('accepted', 'declined') AND EXISTS (
        SELECT 1 FROM involvements
         WHERE awaiting_referral_id = NEW.id AND status <> 'ended') THEN
        RAISE EXCEPTION 'referral % is % with care still waiting for it', NEW.id, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'referrals_decided_nothing_waiting';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER referrals_decided_nothing_waiting
    AFTER INSERT OR UPDATE OF status ON referrals
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION check_referral_leaves_nothing_waiting();

ALTER TABLE referrals DROP CONSTRAINT referrals_match_basis_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_match_basis_check
    CHECK (match_basis IN ('bsn', 'new_family', 'name_and_birth_date', 'bsn_in_other_municipality',
                           'chosen_by_team_lead', 'bsn_details_differ'));
COMMENT ON COLUMN referrals.match_basis IS 'How the family was found: bsn, new_family, name_and_birth_date (review), bsn_in_other_municipality (review), bsn_details_differ (review: the BSN is known but name or birth date disagree), chosen_by_team_lead.';
