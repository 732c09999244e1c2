INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, 6, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1123, p.n_children)),
       'active', least(x.started + pg_temp.gz_i(p.n, 1126, 15), p.s), x.started,
       'Uitspraak kinderrechter', p.director1
FROM gz_plan p
CROSS JOIN LATERAL (SELECT 1 + pg_temp.gz_i(p.n, 1125, p.a) AS started) x
JOIN gz_form fm ON fm.pool = 'safety' AND fm.slot = pg_temp.gz_i(p.n, 1120, 100)
JOIN gz_prov pr ON pr.pool = 'gi' AND pr.idx = pg_temp.gz_i(p.n, 1121, :GI_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.safety
