INSERT INTO gz_plan (id, n, ord, family_id, municipality_code, fam_created_at, n_children, surname,
                     status, s, a, c, created_at, activated_at, closed_at, handover_at, director1, director2,
                     yoyo, yoyo_base, safety, history, n_inv, prov_base, dropout)
SELECT pg_temp.gz_uuid(q.created_at, f.n, 60 + o.ord), f.n, o.ord, f.id, f.municipality_code, f.created_at,
       f.n_children, f.surname, p.status, p.s, q.a, p.c, q.created_at, r.activated_at, r.closed_at,
       CASE WHEN d.handover
            THEN r.activated_at + (now() - r.activated_at) * (0.2 + 0.6 * pg_temp.gz_r(f.n, 39)) END,
       d1.user_id, CASE WHEN d.handover THEN d2.user_id END,
       o.ord = 0 AND f.yoyo, 185 + pg_temp.gz_i(f.n, 45, 15), o.ord = 0 AND f.safety,
       o.ord = 0 AND p.status = 'active' AND NOT f.yoyo AND pg_temp.gz_r(f.n, 43) < 0.25,
       CASE WHEN p.status = 'closed' THEN 1 + pg_temp.gz_i(f.n, 300 + o.ord * 50, 3)
            WHEN p.status = 'intake' THEN 0
            ELSE greatest(CASE WHEN f.yoyo THEN 1 ELSE 0 END, CASE
                 WHEN pg_temp.gz_r(f.n, 42) < 0.25 THEN 0 WHEN pg_temp.gz_r(f.n, 42) < 0.60 THEN 1
                 WHEN pg_temp.gz_r(f.n, 42) < 0.93 THEN 2 WHEN pg_temp.gz_r(f.n, 42) < 0.97 THEN 3
                 WHEN pg_temp.gz_r(f.n, 42) < 0.99 THEN 4 ELSE 5 END)
       END,
       pg_temp.gz_i(f.n, 44, :GEN_N),
       CASE WHEN p.status = 'closed' THEN pg_temp.gz_r(f.n, 46 + o.ord) < 0.15 END
FROM gz_fam f
CROSS JOIN (VALUES (0), (1), (2)) AS o(ord)
CROSS JOIN LATERAL (SELECT CASE o.ord WHEN 0 THEN f.open_status ELSE 'closed' END AS status,
                           CASE o.ord WHEN 0 THEN f.open_days WHEN 1 THEN f.s1 ELSE f.s2 END AS s,
                           CASE o.ord WHEN 1 THEN f.c1 WHEN 2 THEN f.c2 END AS c,
                           pg_temp.gz_i(f.n, 21 + o.ord, 6) AS delay) p
CROSS JOIN LATERAL (SELECT CASE WHEN p.status = 'intake' THEN NULL ELSE p.s - p.delay END AS a,
                           CASE WHEN p.status = 'intake'
                                THEN now() - (p.s * 24 + 1 + 22 * pg_temp.gz_r(f.n, 24)) * interval '1 hour'
                                ELSE pg_temp.gz_at(p.s, pg_temp.gz_r(f.n, 25 + o.ord)) END AS created_at) q
CROSS JOIN LATERAL (SELECT CASE WHEN q.a IS NOT NULL
                                THEN greatest(q.created_at + interval '10 minutes',
                                              pg_temp.gz_at(q.a, pg_temp.gz_r(f.n, 28 + o.ord))) END AS activated_at,
                           CASE WHEN p.status = 'closed'
                                THEN ((current_date - p.c) + time '17:30') AT TIME ZONE 'UTC'
                                     + pg_temp.gz_r(f.n, 31 + o.ord) * interval '30 minutes' END AS closed_at) r
JOIN gz_pool_n pn ON pn.municipality_code = f.municipality_code
CROSS JOIN LATERAL (SELECT CASE WHEN o.ord = 0 AND f.safety AND pn.gi_n > 0 THEN 'gi'
                                WHEN pn.jgt_n > 0 THEN 'jgt' ELSE 'gi' END AS kind) k
CROSS JOIN LATERAL (SELECT CASE k.kind WHEN 'gi' THEN pn.gi_n ELSE pn.jgt_n END AS m) km
CROSS JOIN LATERAL (SELECT pg_temp.gz_i(f.n, 34 + o.ord, km.m) AS i1,
                           o.ord = 0 AND p.status = 'active' AND km.m > 1
                               AND pg_temp.gz_r(f.n, 37) < 0.2 AS handover) d
LEFT JOIN gz_pool d1 ON p.status <> 'intake' AND d1.municipality_code = f.municipality_code
                    AND d1.kind = k.kind AND d1.idx = d.i1
LEFT JOIN gz_pool d2 ON d.handover AND d2.municipality_code = f.municipality_code AND d2.kind = k.kind
                    AND d2.idx = (d.i1 + 1 + pg_temp.gz_i(f.n, 38, km.m - 1)) % km.m
WHERE (o.ord = 0 AND f.open_status IS NOT NULL) OR (o.ord = 1 AND f.n_closed >= 1) OR (o.ord = 2 AND f.n_closed = 2)
