INSERT INTO plans (id, family_id, municipality_code, status, title, goals, version, created_by, created_at,
                   updated_at, activated_at, closed_at, close_reason, goal_realisation, satisfaction_score,
                   dropout, dropout_reason, level, protection_measure)
SELECT p.id, p.family_id, p.municipality_code, p.status,
       CASE WHEN p.status = 'intake' THEN 'Aanmelding via ' || @REFERRER ELSE 'Gezinsplan ' || p.surname END,
       (SELECT jsonb_agg(jsonb_build_object('id', pg_temp.gz_uuid(p.created_at, p.n, 600 + p.ord * 10 + g),
                                            'description', (@GOALS)[1 + (pg_temp.gz_i(p.n, 625 + p.ord, :GOALS_N) + g) % :GOALS_N])
                         ORDER BY g)
        FROM generate_series(0, pg_temp.gz_i(p.n, 630 + p.ord, 3)) AS g),
       1 + (p.director1 IS NOT NULL)::integer + (p.handover_at IS NOT NULL)::integer + (p.status = 'closed')::integer,
       p.director1, p.created_at,
       greatest(p.created_at, p.activated_at, p.handover_at, p.closed_at),
       p.activated_at, p.closed_at,
       CASE WHEN p.status = 'closed' THEN CASE WHEN p.dropout THEN 'Hulp voortijdig beëindigd' ELSE @CLOSE_REASON END END,
       CASE WHEN p.status = 'closed' THEN
            CASE WHEN p.dropout THEN CASE WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.6 THEN 'not_achieved' ELSE 'partially_achieved' END
                 WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.50 THEN 'achieved'
                 WHEN pg_temp.gz_r(p.n, 650 + p.ord) < 0.85 THEN 'partially_achieved'
                 ELSE 'not_achieved' END END,
       CASE WHEN p.status = 'closed' AND pg_temp.gz_r(p.n, 653 + p.ord) < 0.75 THEN
            (CASE WHEN p.dropout THEN 3 + pg_temp.gz_i(p.n, 656 + p.ord, 5) ELSE 6 + pg_temp.gz_i(p.n, 656 + p.ord, 4) END)::smallint END,
       p.dropout,
       CASE WHEN p.dropout THEN @DROPOUT_REASON END,
       p.level, p.protection
FROM gz_plan p;

INSERT INTO director_assignments (id, plan_id, user_id, started_at, ended_at, assigned_by, reason)
SELECT pg_temp.gz_uuid(activated_at, n, 70 + ord * 2), id, director1, activated_at,
       coalesce(handover_at, closed_at), NULL,
       CASE WHEN safety THEN 'Regie bij de GI vanwege de beschermingsmaatregel' ELSE 'Toegewezen bij intake' END
FROM gz_plan WHERE status <> 'intake'
UNION ALL
SELECT pg_temp.gz_uuid(handover_at, n, 71), id, director2, handover_at, NULL, director1,
       'Regieoverdracht: wisseling van caseload'
FROM gz_plan WHERE handover_at IS NOT NULL;
