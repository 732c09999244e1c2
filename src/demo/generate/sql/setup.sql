SET TIME ZONE 'UTC';
SET work_mem = '64MB';
DROP TABLE IF EXISTS gz_slot, gz_pool, gz_pool_n, gz_prov, gz_form, gz_fam, gz_plan, gz_inv, gz_scale;
-- hashint8extended folds its 64-bit input to 32 bits (lo ^ hi, so that int4
-- and int8 hash alike): a key mixed into the value would collide across rows.
-- The key goes into the 64-bit seed instead; rows up to 2^32 hash apart.
CREATE OR REPLACE FUNCTION pg_temp.gz_h(n bigint, k integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT hashint8extended(n, hashint8extended(k, :SEED::bigint))';
CREATE OR REPLACE FUNCTION pg_temp.gz_r(n bigint, k integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT (pg_temp.gz_h(n, k) & 2147483647)::double precision / 2147483648.0';
CREATE OR REPLACE FUNCTION pg_temp.gz_i(n bigint, k integer, m integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT floor(pg_temp.gz_r(n, k) * greatest(m, 1))::integer';
CREATE OR REPLACE FUNCTION pg_temp.gz_at(days integer, frac double precision) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT ((current_date - days) + time '08:00') AT TIME ZONE 'UTC' + frac * interval '9 hours'$$;
CREATE OR REPLACE FUNCTION pg_temp.gz_uuid(ts timestamptz, n bigint, k integer) RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
                 || lpad(to_hex(pg_temp.gz_h(n, k) & 4095), 3, '0')
                 || to_hex(8 + ((pg_temp.gz_h(n, k) >> 12) & 3))
                 || lpad(to_hex(pg_temp.gz_h(n, k + 4194304) & 1152921504606846975), 15, '0'))::uuid$$;
-- A UTC timestamp as chrono serialises it: no, 3 or 6 fraction digits, 'Z'.
CREATE OR REPLACE FUNCTION pg_temp.gz_rfc3339(ts timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN extract(microseconds FROM ts)::bigint % 1000000 = 0 THEN ''
                        WHEN extract(microseconds FROM ts)::bigint % 1000 = 0
                        THEN '.' || lpad((extract(microseconds FROM ts)::bigint % 1000000 / 1000)::text, 3, '0')
                        ELSE '.' || lpad((extract(microseconds FROM ts)::bigint % 1000000)::text, 6, '0') END
                || 'Z'$$;

CREATE TEMP TABLE gz_slot (slot integer PRIMARY KEY, municipality_code text NOT NULL, team_id uuid NOT NULL);
CREATE TEMP TABLE gz_pool (municipality_code text, kind text, idx integer, user_id uuid NOT NULL,
                           PRIMARY KEY (municipality_code, kind, idx));
CREATE TEMP TABLE gz_pool_n (municipality_code text PRIMARY KEY, jgt_n integer NOT NULL, gi_n integer NOT NULL);
CREATE TEMP TABLE gz_prov (pool text, idx integer, id uuid NOT NULL, PRIMARY KEY (pool, idx));
CREATE TEMP TABLE gz_form (pool text, slot integer, code text NOT NULL, segment text NOT NULL,
                           level smallint, product_category text NOT NULL, PRIMARY KEY (pool, slot));

CREATE TEMP TABLE gz_fam (
    n bigint PRIMARY KEY, id uuid NOT NULL, municipality_code text NOT NULL, team_id uuid NOT NULL,
    surname text NOT NULL, created_at timestamptz NOT NULL, created_days integer NOT NULL,
    n_children integer NOT NULL, n_parents integer NOT NULL, open_status text, open_days integer,
    yoyo boolean NOT NULL, safety boolean NOT NULL, n_closed integer NOT NULL,
    c1 integer, s1 integer, c2 integer, s2 integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE gz_plan (
    id uuid PRIMARY KEY, n bigint NOT NULL, ord integer NOT NULL, family_id uuid NOT NULL,
    municipality_code text NOT NULL, fam_created_at timestamptz NOT NULL, n_children integer NOT NULL,
    surname text NOT NULL, status text NOT NULL, s integer NOT NULL, a integer, c integer,
    created_at timestamptz NOT NULL, activated_at timestamptz, closed_at timestamptz,
    handover_at timestamptz, director1 uuid, director2 uuid,
    yoyo boolean NOT NULL, yoyo_base integer NOT NULL, safety boolean NOT NULL, history boolean NOT NULL,
    n_inv integer NOT NULL, prov_base integer NOT NULL, dropout boolean,
    level smallint NOT NULL DEFAULT 0, protection boolean NOT NULL DEFAULT false
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE gz_inv (
    id uuid, plan_id uuid NOT NULL, family_id uuid NOT NULL, n bigint NOT NULL, ord integer NOT NULL,
    slot integer NOT NULL, provider_id uuid NOT NULL, care_form_code text NOT NULL, segment text NOT NULL,
    level smallint, product_category text NOT NULL, member_id uuid, status text NOT NULL,
    requested_ago integer NOT NULL, started_ago integer, ended_ago integer, end_reason text,
    reason text, created_by uuid, created_at timestamptz, updated_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE INDEX gz_inv_plan ON gz_inv (plan_id);
CREATE TEMP TABLE gz_scale (
    id uuid NOT NULL, plan_id uuid NOT NULL, occurred_at timestamptz NOT NULL, from_level smallint NOT NULL,
    to_level smallint NOT NULL, direction text NOT NULL, reason text NOT NULL, decided_by uuid,
    involvement_ids uuid[] NOT NULL
) ON COMMIT DELETE ROWS;
