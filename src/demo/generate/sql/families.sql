INSERT INTO gz_fam (n, id, municipality_code, team_id, surname, created_at, created_days,
                    n_children, n_parents, open_status, open_days, yoyo, safety, n_closed, c1, s1, c2, s2)
SELECT g.n, pg_temp.gz_uuid(t.created_at, g.n, 50), s.municipality_code, s.team_id, @SURNAME,
       t.created_at, l.f,
       CASE WHEN pg_temp.gz_r(g.n, 3) < 0.40 THEN 1 WHEN pg_temp.gz_r(g.n, 3) < 0.78 THEN 2
            WHEN pg_temp.gz_r(g.n, 3) < 0.95 THEN 3 ELSE 4 END,
       CASE WHEN pg_temp.gz_r(g.n, 4) < 0.35 THEN 1 ELSE 2 END,
       c.open_status, e.o, d.yoyo, d.safety, b.n_closed, h.c1, i.s1, j.c2, k.s2
FROM generate_series(:LO::bigint, :HI::bigint) AS g(n)
CROSS JOIN LATERAL (SELECT pg_temp.gz_r(g.n, 5) < 0.08 AS no_plan) a
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan THEN 0
                                WHEN pg_temp.gz_r(g.n, 6) < 0.2174
                                THEN CASE WHEN pg_temp.gz_r(g.n, 7) < 0.7 THEN 1 ELSE 2 END
                                ELSE 0 END AS n_closed) b
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan OR (b.n_closed > 0 AND pg_temp.gz_r(g.n, 8) < 0.25) THEN NULL
                                WHEN pg_temp.gz_r(g.n, 9) < 0.10 THEN 'intake'
                                ELSE 'active' END AS open_status) c
CROSS JOIN LATERAL (SELECT coalesce(c.open_status = 'active' AND pg_temp.gz_r(g.n, 11) < 0.022, false) AS yoyo,
                           coalesce(c.open_status = 'active' AND pg_temp.gz_r(g.n, 12) < 0.04, false) AS safety) d
CROSS JOIN LATERAL (SELECT CASE c.open_status
                             WHEN 'intake' THEN floor(14 * pg_temp.gz_r(g.n, 10) ^ 2)::integer
                             WHEN 'active' THEN CASE WHEN d.yoyo THEN 210 + pg_temp.gz_i(g.n, 10, 690)
                                                     ELSE 7 + pg_temp.gz_i(g.n, 10, 893) END
                           END AS o) e
CROSS JOIN LATERAL (SELECT CASE WHEN b.n_closed >= 1 THEN
                             CASE WHEN c.open_status IS NULL THEN 5 + pg_temp.gz_i(g.n, 15, 600)
                                  ELSE e.o + 10 + pg_temp.gz_i(g.n, 15, 200) END
                           END AS c1) h
CROSS JOIN LATERAL (SELECT h.c1 + 60 + pg_temp.gz_i(g.n, 16, 600) AS s1) i
CROSS JOIN LATERAL (SELECT CASE WHEN b.n_closed = 2 THEN i.s1 + 30 + pg_temp.gz_i(g.n, 17, 300) END AS c2) j
CROSS JOIN LATERAL (SELECT j.c2 + 60 + pg_temp.gz_i(g.n, 18, 500) AS s2) k
CROSS JOIN LATERAL (SELECT CASE WHEN a.no_plan THEN 1 + pg_temp.gz_i(g.n, 14, 2000)
                                ELSE greatest(e.o, i.s1, k.s2) + 2 + pg_temp.gz_i(g.n, 13, 60) END AS f) l
CROSS JOIN LATERAL (SELECT pg_temp.gz_at(l.f, pg_temp.gz_r(g.n, 19)) AS created_at) t
JOIN gz_slot s ON s.slot = pg_temp.gz_i(g.n, 1, 100)
