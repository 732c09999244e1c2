INSERT INTO families (id, municipality_code, team_id, name, created_at, updated_at)
SELECT id, municipality_code, team_id, 'Familie ' || surname, created_at, created_at FROM gz_fam;

INSERT INTO family_members (id, family_id, role, given_name, family_name, birth_date, started_on,
                            created_at, updated_at)
SELECT pg_temp.gz_uuid(f.created_at, f.n, 500 + m), f.id,
       CASE WHEN m < f.n_children THEN 'child'
            WHEN pg_temp.gz_r(f.n, 100 + m * 10) < 0.06 THEN 'caregiver' ELSE 'parent' END,
       CASE WHEN m < f.n_children THEN @CHILD_NAME ELSE @ADULT_NAME END,
       CASE WHEN m > f.n_children AND pg_temp.gz_r(f.n, 102 + m * 10) < 0.5 THEN @OTHER_SURNAME
            ELSE f.surname END,
       CASE WHEN m < f.n_children THEN current_date - (f.created_days + 30 + pg_temp.gz_i(f.n, 103 + m * 10, 3300))
            ELSE current_date - (f.created_days + 7300 + pg_temp.gz_i(f.n, 103 + m * 10, 7300)) END,
       current_date - f.created_days, f.created_at, f.created_at
FROM gz_fam f
CROSS JOIN LATERAL generate_series(0, f.n_children + f.n_parents - 1) AS m;
