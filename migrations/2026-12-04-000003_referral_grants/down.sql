UPDATE referrals SET match_basis = 'name_and_birth_date' WHERE match_basis = 'bsn_details_differ';
ALTER TABLE referrals DROP CONSTRAINT referrals_match_basis_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_match_basis_check
    CHECK (match_basis IN ('bsn', 'new_family', 'name_and_birth_date', 'bsn_in_other_municipality', 'chosen_by_team_lead'));
COMMENT ON COLUMN referrals.match_basis IS 'How the family was found: bsn, new_family, name_and_birth_date (review), bsn_in_other_municipality (review), chosen_by_team_lead.';
DROP TRIGGER referrals_decided_nothing_waiting ON referrals;
DROP FUNCTION check_referral_leaves_nothing_waiting();
DROP INDEX involvements_awaiting;
ALTER TABLE involvements DROP CONSTRAINT involvements_awaiting_not_started;
ALTER TABLE involvements DROP COLUMN awaiting_referral_id;
