INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'many_providers', p.family_id, p.municipality_code, 'open',
       string_agg(x.provider_id::text, ',' ORDER BY x.provider_id),
       jsonb_build_object('providerIds', jsonb_agg(x.provider_id ORDER BY x.provider_id),
                          'count', count(*), 'threshold', :MANY_PROVIDERS)
FROM gz_plan p
JOIN (SELECT DISTINCT plan_id, provider_id FROM gz_inv WHERE status = 'active') x ON x.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code
HAVING count(*) >= :MANY_PROVIDERS;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'parallel_same_segment', p.family_id, p.municipality_code, 'open',
       string_agg(e.key, ';' ORDER BY e.key COLLATE "C"),
       jsonb_build_object('entries', jsonb_agg(jsonb_build_object('memberId', e.member_id, 'segment', e.segment,
                                                                  'providerIds', to_jsonb(e.providers))
                                               ORDER BY e.member_id, e.segment COLLATE "C"))
FROM gz_plan p
JOIN (SELECT plan_id, member_id, segment, providers,
             member_id::text || ':' || segment || ':' || array_to_string(providers, '+') AS key
      FROM (SELECT plan_id, member_id, segment, array_agg(DISTINCT provider_id ORDER BY provider_id) AS providers
            FROM gz_inv
            WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
            GROUP BY plan_id, member_id, segment) s
      WHERE cardinality(providers) >= 2) e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'multiple_segments', p.family_id, p.municipality_code, 'open',
       string_agg(e.key, ';' ORDER BY e.key COLLATE "C"),
       jsonb_build_object('entries', jsonb_agg(jsonb_build_object('memberId', e.member_id,
                                                                  'segments', to_jsonb(e.segments))
                                               ORDER BY e.member_id))
FROM gz_plan p
JOIN (SELECT plan_id, member_id, segments,
             member_id::text || ':' || array_to_string(segments, '+') AS key
      FROM (SELECT plan_id, member_id,
                   array_agg(DISTINCT segment COLLATE "C" ORDER BY segment COLLATE "C") AS segments
            FROM gz_inv
            WHERE status = 'active' AND member_id IS NOT NULL AND segment <> 'safety'
            GROUP BY plan_id, member_id) s
      WHERE cardinality(segments) >= 2) e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'yo_yo', p.family_id, p.municipality_code, 'open',
       (array_agg(e.id ORDER BY e.occurred_at DESC, e.id DESC))[1]::text,
       jsonb_build_object('changes', count(*) FILTER (WHERE e.prev <> e.direction),
                          'windowDays', :YOYO_DAYS,
                          'oldestCountedAt', pg_temp.gz_rfc3339(min(e.occurred_at)))
FROM gz_plan p
JOIN (SELECT plan_id, id, occurred_at, direction,
             lag(direction) OVER (PARTITION BY plan_id ORDER BY occurred_at, id) AS prev
      FROM gz_scale
      WHERE occurred_at >= now() - :YOYO_DAYS * interval '24 hours') e ON e.plan_id = p.id
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code
HAVING count(*) FILTER (WHERE e.prev <> e.direction) >= :YOYO_CHANGES;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT p.id, 'long_wait', p.family_id, p.municipality_code, 'open',
       string_agg(i.id::text, ',' ORDER BY i.id),
       jsonb_build_object('involvementIds', jsonb_agg(i.id ORDER BY i.id),
                          'longestWaitDays', max(i.requested_ago), 'thresholdDays', :LONG_WAIT_DAYS)
FROM gz_plan p
JOIN gz_inv i ON i.plan_id = p.id AND i.status = 'requested' AND i.requested_ago > :LONG_WAIT_DAYS
WHERE p.status <> 'closed'
GROUP BY p.id, p.family_id, p.municipality_code;

INSERT INTO plan_signals (plan_id, code, family_id, municipality_code, status, facts, detail)
SELECT id, 'intake_without_director', family_id, municipality_code, 'open', 'intake',
       jsonb_build_object('thresholdDays', :INTAKE_DAYS)
FROM gz_plan
WHERE status = 'intake' AND now() - created_at > :INTAKE_DAYS * interval '24 hours';
