INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, e.slot, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + e.slot * 20) < 0.7
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + e.slot * 20, p.n_children)) END,
       'ended', least(x.started + pg_temp.gz_i(p.n, 1007 + e.slot * 20, 10), p.s), x.started, x.ended,
       CASE WHEN pg_temp.gz_r(p.n, 1008 + e.slot * 20) < 0.70 THEN 'completed'
            WHEN pg_temp.gz_r(p.n, 1008 + e.slot * 20) < 0.85 THEN 'transferred'
            ELSE 'stopped_by_agreement' END,
       'Crisis thuis, tijdelijk zwaardere zorg', p.director1
FROM gz_plan p
CROSS JOIN (VALUES (8), (9)) AS e(slot)
CROSS JOIN LATERAL (SELECT CASE e.slot WHEN 8 THEN 150 ELSE 60 END + pg_temp.gz_i(p.n, 1005 + e.slot * 20, 20) AS started,
                           CASE e.slot WHEN 8 THEN 100 ELSE 20 END + pg_temp.gz_i(p.n, 1006 + e.slot * 20, 20) AS ended) x
JOIN gz_form fm ON fm.pool = 'high' AND fm.slot = pg_temp.gz_i(p.n, 1000 + e.slot * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1001 + e.slot * 20, :GEN_N)
WHERE p.ord = 0 AND p.status = 'active' AND p.yoyo
