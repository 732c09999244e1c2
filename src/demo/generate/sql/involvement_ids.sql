UPDATE gz_inv SET created_at = pg_temp.gz_at(requested_ago, pg_temp.gz_r(n, 1015 + slot * 20));
UPDATE gz_inv SET id = pg_temp.gz_uuid(created_at, n, 2000 + slot),
                  updated_at = greatest(created_at,
                      pg_temp.gz_at(coalesce(ended_ago, started_ago, requested_ago), pg_temp.gz_r(n, 1016 + slot * 20)));
UPDATE gz_plan p SET level = x.level, protection = x.protection
FROM (SELECT plan_id, coalesce(max(level), 0) AS level, bool_or(segment = 'safety') AS protection
      FROM gz_inv WHERE status = 'active' GROUP BY plan_id) x
WHERE x.plan_id = p.id;
