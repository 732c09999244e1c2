INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, j, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + j * 20) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + j * 20, p.n_children)) END,
       x.status,
       CASE x.status
            WHEN 'active' THEN least(x.started + pg_temp.gz_i(p.n, 1006 + j * 20, 57), p.s)
            ELSE least(CASE WHEN pg_temp.gz_r(p.n, 1007 + j * 20) < 0.25
                            THEN 43 + pg_temp.gz_i(p.n, 1008 + j * 20, 80)
                            ELSE 1 + pg_temp.gz_i(p.n, 1008 + j * 20, 40) END, p.s) END,
       CASE x.status WHEN 'active' THEN x.started END,
       @CARE_REASON_J, p.director1
FROM gz_plan p
CROSS JOIN LATERAL generate_series(0, p.n_inv - 1) AS j
CROSS JOIN LATERAL (SELECT CASE WHEN (p.yoyo AND j = 0) OR pg_temp.gz_r(p.n, 1004 + j * 20) >= 0.12
                                THEN 'active' ELSE 'requested' END AS status,
                           CASE WHEN p.yoyo THEN p.yoyo_base
                                ELSE 1 + pg_temp.gz_i(p.n, 1005 + j * 20, p.a) END AS started) x
JOIN gz_form fm ON fm.pool = CASE WHEN p.yoyo THEN 'low' ELSE 'care' END
               AND fm.slot = pg_temp.gz_i(p.n, 1000 + j * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = (p.prov_base + j) % :GEN_N
WHERE p.ord = 0 AND p.status = 'active'
