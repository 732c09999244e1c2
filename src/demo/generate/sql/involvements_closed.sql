INSERT INTO gz_inv (plan_id, family_id, n, ord, slot, provider_id, care_form_code, segment, level,
                    product_category, member_id, status, requested_ago, started_ago, ended_ago, end_reason,
                    reason, created_by)
SELECT p.id, p.family_id, p.n, p.ord, x.slot, pr.id, fm.code, fm.segment, fm.level, fm.product_category,
       CASE WHEN pg_temp.gz_r(p.n, 1002 + x.slot * 20) < 0.6
            THEN pg_temp.gz_uuid(p.fam_created_at, p.n, 500 + pg_temp.gz_i(p.n, 1003 + x.slot * 20, p.n_children)) END,
       'ended', y.requested, y.started,
       CASE WHEN y.started IS NULL THEN p.c + pg_temp.gz_i(p.n, 1006 + x.slot * 20, y.requested - p.c)
            WHEN x.j = 0 THEN p.c
            ELSE p.c + pg_temp.gz_i(p.n, 1006 + x.slot * 20, y.started - p.c) END,
       CASE WHEN x.j = 0 AND p.dropout THEN
                 CASE WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.50 THEN 'stopped_by_client'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.75 THEN 'stopped_by_provider'
                      ELSE 'stopped_external' END
            WHEN y.started IS NULL THEN 'stopped_by_agreement'
            ELSE CASE WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.75 THEN 'completed'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.85 THEN 'stopped_by_agreement'
                      WHEN pg_temp.gz_r(p.n, 1008 + x.slot * 20) < 0.95 THEN 'transferred'
                      ELSE 'other_domain' END END,
       @CARE_REASON_X, p.director1
FROM gz_plan p
CROSS JOIN LATERAL generate_series(0, p.n_inv - 1) AS j
CROSS JOIN LATERAL (SELECT j, 10 + (p.ord - 1) * 3 + j AS slot,
                           j > 0 AND pg_temp.gz_r(p.n, 1004 + (10 + (p.ord - 1) * 3 + j) * 20) < 0.05 AS never) x
CROSS JOIN LATERAL (SELECT CASE WHEN NOT x.never THEN p.c + 2 + pg_temp.gz_i(p.n, 1005 + x.slot * 20, p.a - p.c - 1) END AS started) z
CROSS JOIN LATERAL (SELECT z.started,
                           CASE WHEN x.never THEN p.c + 1 + pg_temp.gz_i(p.n, 1007 + x.slot * 20, p.s - p.c - 1)
                                ELSE least(z.started + pg_temp.gz_i(p.n, 1007 + x.slot * 20, 40), p.s) END AS requested) y
JOIN gz_form fm ON fm.pool = 'care' AND fm.slot = pg_temp.gz_i(p.n, 1000 + x.slot * 20, 100)
JOIN gz_prov pr ON pr.pool = 'care' AND pr.idx = pg_temp.gz_i(p.n, 1001 + x.slot * 20, :GEN_N)
WHERE p.status = 'closed'
