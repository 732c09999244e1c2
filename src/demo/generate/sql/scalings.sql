INSERT INTO gz_scale (id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids)
SELECT pg_temp.gz_uuid(t.occurred_at, ch.n, 200000 + ch.ord * 10000 + ch.day_ago), ch.plan_id, t.occurred_at,
       ch.prev, ch.level,
       CASE WHEN ch.level > ch.prev THEN 'up' ELSE 'down' END,
       CASE WHEN ch.level > ch.prev THEN @UP_REASON ELSE @DOWN_REASON END,
       CASE WHEN p.handover_at IS NOT NULL AND t.occurred_at >= p.handover_at THEN p.director2 ELSE p.director1 END,
       ch.ids
FROM (
    SELECT lv.*, lag(lv.level, 1, 0::smallint) OVER (PARTITION BY lv.plan_id ORDER BY lv.day_ago DESC) AS prev
    FROM (
        SELECT d.plan_id, d.n, d.ord, d.day_ago,
               coalesce(max(i.level) FILTER (WHERE i.started_ago >= d.day_ago
                                              AND (i.ended_ago IS NULL OR i.ended_ago < d.day_ago)), 0)::smallint AS level,
               array_agg(i.id ORDER BY i.id) FILTER (WHERE i.started_ago = d.day_ago OR i.ended_ago = d.day_ago) AS ids
        FROM (SELECT plan_id, n, ord, started_ago AS day_ago FROM gz_inv
              WHERE level IS NOT NULL AND started_ago IS NOT NULL
              UNION
              SELECT plan_id, n, ord, ended_ago FROM gz_inv
              WHERE level IS NOT NULL AND started_ago IS NOT NULL AND ended_ago IS NOT NULL) d
        JOIN gz_inv i ON i.plan_id = d.plan_id AND i.level IS NOT NULL AND i.started_ago IS NOT NULL
        GROUP BY d.plan_id, d.n, d.ord, d.day_ago
    ) lv
) ch
JOIN gz_plan p ON p.id = ch.plan_id
CROSS JOIN LATERAL (SELECT pg_temp.gz_at(ch.day_ago, pg_temp.gz_r(ch.n, 203000 + ch.ord * 10000 + ch.day_ago)) AS occurred_at) t
WHERE ch.level <> ch.prev
