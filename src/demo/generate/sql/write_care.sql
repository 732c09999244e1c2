INSERT INTO involvements (id, plan_id, family_id, provider_id, care_form_code, segment, level, product_category,
                          member_id, status, requested_on, started_on, ended_on, end_reason, reason, created_by,
                          created_at, updated_at)
SELECT id, plan_id, family_id, provider_id, care_form_code, segment, level, product_category, member_id, status,
       current_date - requested_ago, current_date - started_ago, current_date - ended_ago, end_reason, reason,
       created_by, created_at, updated_at
FROM gz_inv;

INSERT INTO scaling_events (id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids)
SELECT id, plan_id, occurred_at, from_level, to_level, direction, reason, decided_by, involvement_ids FROM gz_scale;
