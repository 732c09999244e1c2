INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, 7, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1142) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1143, p.n_children)) END,
       'ended', least(x.started + pg_temp.gz_i(p.n, 1147, 30), p.s), x.started,
       1 + pg_temp.gz_i(p.n, 1146, x.started - 1),
       CASE WHEN pg_temp.gz_r(p.n, 1148) < 0.60 THEN 'completed'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.70 THEN 'stopped_by_agreement'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.80 THEN 'transferred'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.90 THEN 'stopped_by_client'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.95 THEN 'stopped_by_provider'
            WHEN pg_temp.gz_r(p.n, 1148) < 0.98 THEN 'stopped_external'
            ELSE 'other_domain' END,
       @CARE_REASON_7, p.director1
FROM gz_plan p
CROSS JOIN LATERAL (SELECT 2 + pg_temp.gz_i(p.n, 1145, p.a - 1) AS started) x
JOIN gz_form fm ON fm.pool = 'care' AND fm.slot = pg_temp.gz_i(p.n, 1140, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1141, :GEN_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.history
