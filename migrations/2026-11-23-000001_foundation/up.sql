-- Foundation schema: tenants, users and sessions, families, plans, directors, audit.
-- The invariants of DESIGN section 3 (items 1, 2, 3, 5 and 6) live here, in the
-- database, so that no code path and no concurrent request can break them.

CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---------------------------------------------------------------- tenants
CREATE TABLE municipalities (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE municipalities IS 'Tenants: Dutch municipalities (gemeenten), identified by their CBS code.';
COMMENT ON COLUMN municipalities.code IS '4-digit CBS municipality code, e.g. 0546 for Leiden.';
COMMENT ON COLUMN municipalities.name IS 'Display name of the municipality.';
COMMENT ON COLUMN municipalities.created_at IS 'When the municipality was registered.';

CREATE TABLE teams (
    id                 uuid PRIMARY KEY,
    municipality_code  text NOT NULL REFERENCES municipalities (code),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (municipality_code, name),
    -- Target of composite foreign keys: a row that names a team and a
    -- municipality can only name a team of that municipality.
    UNIQUE (id, municipality_code)
);
COMMENT ON TABLE teams IS 'Jeugd- en Gezinsteams (JGT): municipal teams; every family belongs to one.';
COMMENT ON COLUMN teams.id IS 'Team id (UUID v7).';
COMMENT ON COLUMN teams.municipality_code IS 'Municipality the team works for.';
COMMENT ON COLUMN teams.name IS 'Team name, unique within its municipality.';
COMMENT ON COLUMN teams.created_at IS 'When the team was registered.';

-- ---------------------------------------------------------------- users
CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    username           text NOT NULL CHECK (length(username) BETWEEN 3 AND 100),
    display_name       text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role               text NOT NULL CHECK (role IN ('admin', 'team_lead', 'jgt_worker', 'gi_worker', 'provider_user', 'auditor')),
    municipality_code  text REFERENCES municipalities (code),
    team_id            uuid,
    password_hash      text NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (team_id, municipality_code) REFERENCES teams (id, municipality_code),
    CONSTRAINT users_municipality_required CHECK (role = 'admin' OR municipality_code IS NOT NULL),
    CONSTRAINT users_team_required CHECK (role <> 'jgt_worker' OR team_id IS NOT NULL)
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_municipality_role ON users (municipality_code, role) WHERE active;
COMMENT ON TABLE users IS 'People who log in: administrators, JGT staff, GI workers, provider staff, auditors.';
COMMENT ON COLUMN users.id IS 'User id (UUID v7).';
COMMENT ON COLUMN users.username IS 'Login name, unique case-insensitively.';
COMMENT ON COLUMN users.display_name IS 'Name shown to colleagues.';
COMMENT ON COLUMN users.role IS 'Role (DESIGN section 6): admin, team_lead, jgt_worker, gi_worker, provider_user, auditor.';
COMMENT ON COLUMN users.municipality_code IS 'Home municipality; null only for admins, who see no family data.';
COMMENT ON COLUMN users.team_id IS 'Team of a JGT worker or team lead; must belong to the user''s municipality.';
COMMENT ON COLUMN users.password_hash IS 'argon2id PHC string; never the password.';
COMMENT ON COLUMN users.active IS 'False disables login and ends all sessions at their next use.';
COMMENT ON COLUMN users.created_at IS 'When the account was created.';
COMMENT ON COLUMN users.updated_at IS 'When the account was last changed.';

CREATE TABLE user_served_municipalities (
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    municipality_code  text NOT NULL REFERENCES municipalities (code),
    PRIMARY KEY (user_id, municipality_code)
);
CREATE INDEX user_served_municipalities_by_code ON user_served_municipalities (municipality_code);
COMMENT ON TABLE user_served_municipalities IS 'Municipalities a GI worker serves besides its home municipality; makes it director-capable there.';
COMMENT ON COLUMN user_served_municipalities.user_id IS 'The GI worker.';
COMMENT ON COLUMN user_served_municipalities.municipality_code IS 'A municipality the worker''s GI serves.';

-- ---------------------------------------------------------------- sessions
CREATE TABLE auth_sessions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text CHECK (revoked_reason IN ('logout', 'refresh_token_reuse', 'user_disabled'))
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
COMMENT ON TABLE auth_sessions IS 'Login sessions; access tokens name their session, so revoking it ends them at once.';
COMMENT ON COLUMN auth_sessions.id IS 'Session id, carried as sid in access tokens.';
COMMENT ON COLUMN auth_sessions.user_id IS 'Whose session it is.';
COMMENT ON COLUMN auth_sessions.created_at IS 'Login time.';
COMMENT ON COLUMN auth_sessions.expires_at IS 'Absolute end of the session; refreshing does not extend it.';
COMMENT ON COLUMN auth_sessions.revoked_at IS 'When the session was revoked (logout, token reuse); null while valid.';
COMMENT ON COLUMN auth_sessions.revoked_reason IS 'Why the session was revoked.';

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
COMMENT ON TABLE refresh_tokens IS 'Every refresh token ever issued; a spent one presented again revokes its session.';
COMMENT ON COLUMN refresh_tokens.token_hash IS 'SHA-256 of the 256-bit random token; the token itself is never stored.';
COMMENT ON COLUMN refresh_tokens.session_id IS 'Session the token belongs to.';
COMMENT ON COLUMN refresh_tokens.created_at IS 'When the token was issued.';
COMMENT ON COLUMN refresh_tokens.used_at IS 'When the token was exchanged; a token is usable once.';

CREATE TABLE login_failures (
    username_key       text PRIMARY KEY,
    failure_count      integer NOT NULL,
    window_started_at  timestamptz NOT NULL,
    locked_until       timestamptz
);
COMMENT ON TABLE login_failures IS 'Failed logins per username (existing or not, so lockout does not reveal accounts).';
COMMENT ON COLUMN login_failures.username_key IS 'Lower-cased username as typed.';
COMMENT ON COLUMN login_failures.failure_count IS 'Failures in the current 15-minute window.';
COMMENT ON COLUMN login_failures.window_started_at IS 'First failure of the current window.';
COMMENT ON COLUMN login_failures.locked_until IS 'Logins for this username are refused until then.';

-- ---------------------------------------------------------------- families
CREATE TABLE families (
    id                 uuid PRIMARY KEY,
    municipality_code  text NOT NULL REFERENCES municipalities (code),
    team_id            uuid NOT NULL,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (team_id, municipality_code) REFERENCES teams (id, municipality_code),
    UNIQUE (id, municipality_code)
);
CREATE INDEX families_team ON families (team_id, id);
CREATE INDEX families_municipality ON families (municipality_code, id);
CREATE INDEX families_name_trgm ON families USING gin (name gin_trgm_ops);
COMMENT ON TABLE families IS 'Gezinnen: households around one or more children; each has one team and at most one open plan.';
COMMENT ON COLUMN families.id IS 'Family id (UUID v7).';
COMMENT ON COLUMN families.municipality_code IS 'Municipality responsible for the family (tenant).';
COMMENT ON COLUMN families.team_id IS 'JGT team the family belongs to; a team of the same municipality.';
COMMENT ON COLUMN families.name IS 'Family name as used by the team.';
COMMENT ON COLUMN families.created_at IS 'When the family was registered.';
COMMENT ON COLUMN families.updated_at IS 'When the family record was last changed.';

CREATE TABLE family_members (
    id              uuid PRIMARY KEY,
    family_id       uuid NOT NULL REFERENCES families (id),
    role            text NOT NULL CHECK (role IN ('child', 'parent', 'caregiver', 'other')),
    given_name      text NOT NULL CHECK (length(given_name) BETWEEN 1 AND 200),
    family_name     text NOT NULL CHECK (length(family_name) BETWEEN 1 AND 200),
    birth_date      date NOT NULL CHECK (birth_date >= DATE '1900-01-01'),
    bsn_ciphertext  bytea,
    bsn_hash        bytea,
    started_on      date NOT NULL DEFAULT current_date,
    ended_on        date,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT family_members_bsn_pair CHECK ((bsn_ciphertext IS NULL) = (bsn_hash IS NULL)),
    CONSTRAINT family_members_period CHECK (ended_on IS NULL OR ended_on >= started_on)
);
-- Invariant 1 ("1 gezin"): a child, by BSN, is an active member of at most one family.
CREATE UNIQUE INDEX family_members_one_active_family_per_child
    ON family_members (bsn_hash) WHERE role = 'child' AND ended_on IS NULL AND bsn_hash IS NOT NULL;
-- Nobody is an active member of one family twice.
CREATE UNIQUE INDEX family_members_once_per_family
    ON family_members (family_id, bsn_hash) WHERE ended_on IS NULL AND bsn_hash IS NOT NULL;
CREATE INDEX family_members_family ON family_members (family_id);
CREATE INDEX family_members_bsn_hash ON family_members (bsn_hash) WHERE bsn_hash IS NOT NULL;
COMMENT ON TABLE family_members IS 'Members of a family: children, parents, caregivers, others; ended memberships stay as history.';
COMMENT ON COLUMN family_members.id IS 'Member id (UUID v7).';
COMMENT ON COLUMN family_members.family_id IS 'The family.';
COMMENT ON COLUMN family_members.role IS 'child, parent, caregiver or other.';
COMMENT ON COLUMN family_members.given_name IS 'Given name (personal data).';
COMMENT ON COLUMN family_members.family_name IS 'Family name (personal data).';
COMMENT ON COLUMN family_members.birth_date IS 'Date of birth (personal data).';
COMMENT ON COLUMN family_members.bsn_ciphertext IS 'BSN encrypted with AES-256-GCM (12-byte nonce || ciphertext || tag); never stored in clear.';
COMMENT ON COLUMN family_members.bsn_hash IS 'HMAC-SHA256 of the BSN under a secret key: lets the database match BSNs without knowing them.';
COMMENT ON COLUMN family_members.started_on IS 'First day of the membership.';
COMMENT ON COLUMN family_members.ended_on IS 'Last day of the membership; null while the person is a member.';
COMMENT ON COLUMN family_members.created_at IS 'When the member was registered.';
COMMENT ON COLUMN family_members.updated_at IS 'When the member was last changed.';

-- ---------------------------------------------------------------- plans
CREATE TABLE plans (
    id                 uuid PRIMARY KEY,
    family_id          uuid NOT NULL,
    municipality_code  text NOT NULL,
    status             text NOT NULL CHECK (status IN ('intake', 'active', 'closed')),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    goals              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(goals) = 'array'),
    version            integer NOT NULL DEFAULT 1,
    created_by         uuid REFERENCES users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    closed_at          timestamptz,
    close_reason       text,
    goal_realisation   text CHECK (goal_realisation IN ('achieved', 'partially_achieved', 'not_achieved')),
    satisfaction_score smallint CHECK (satisfaction_score BETWEEN 1 AND 10),
    dropout            boolean,
    dropout_reason     text,
    FOREIGN KEY (family_id, municipality_code) REFERENCES families (id, municipality_code),
    CONSTRAINT plans_closed_at CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT plans_closed_outcome CHECK (status <> 'closed' OR (close_reason IS NOT NULL AND goal_realisation IS NOT NULL AND dropout IS NOT NULL)),
    CONSTRAINT plans_activated_at CHECK (status <> 'active' OR activated_at IS NOT NULL)
);
-- Invariant 2 ("1 plan"): at most one plan per family that is not closed.
CREATE UNIQUE INDEX plans_one_open_plan_per_family ON plans (family_id) WHERE status <> 'closed';
CREATE INDEX plans_family ON plans (family_id, id);
COMMENT ON TABLE plans IS 'Gezinsplannen: the one plan of a family; closed plans stay as history.';
COMMENT ON COLUMN plans.id IS 'Plan id (UUID v7).';
COMMENT ON COLUMN plans.family_id IS 'The family.';
COMMENT ON COLUMN plans.municipality_code IS 'Copy of the family''s municipality, kept equal by the composite foreign key; lets every query filter by tenant.';
COMMENT ON COLUMN plans.status IS 'intake (no director yet), active (has a director), closed.';
COMMENT ON COLUMN plans.title IS 'Short title of the plan.';
COMMENT ON COLUMN plans.goals IS 'Goals as a JSON array of {id, description}.';
COMMENT ON COLUMN plans.version IS 'Optimistic-concurrency version, exposed as the ETag; bumped by every change.';
COMMENT ON COLUMN plans.created_by IS 'User who opened the plan.';
COMMENT ON COLUMN plans.created_at IS 'When the plan was opened.';
COMMENT ON COLUMN plans.updated_at IS 'When the plan was last changed.';
COMMENT ON COLUMN plans.activated_at IS 'When the plan first got a director.';
COMMENT ON COLUMN plans.closed_at IS 'When the plan was closed.';
COMMENT ON COLUMN plans.close_reason IS 'Why the plan was closed.';
COMMENT ON COLUMN plans.goal_realisation IS 'Outcome: achieved, partially_achieved or not_achieved.';
COMMENT ON COLUMN plans.satisfaction_score IS 'Outcome: client satisfaction 1..10, when asked.';
COMMENT ON COLUMN plans.dropout IS 'Outcome: whether care ended by dropout (uitval).';
COMMENT ON COLUMN plans.dropout_reason IS 'Outcome: why the family dropped out.';

-- ---------------------------------------------------------------- directors
CREATE TABLE director_assignments (
    id           uuid PRIMARY KEY,
    plan_id      uuid NOT NULL REFERENCES plans (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    assigned_by  uuid REFERENCES users (id),
    reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    CONSTRAINT director_assignments_period CHECK (ended_at IS NULL OR ended_at > started_at),
    -- Invariant 3 ("1 regisseur"): assignment periods of one plan never overlap.
    CONSTRAINT director_assignments_no_overlap
        EXCLUDE USING gist (plan_id WITH =, tstzrange(started_at, ended_at, '[)') WITH &&)
);
-- Invariant 3: at most one current director per plan.
CREATE UNIQUE INDEX director_assignments_one_current_per_plan ON director_assignments (plan_id) WHERE ended_at IS NULL;
CREATE INDEX director_assignments_current_by_user ON director_assignments (user_id, plan_id) WHERE ended_at IS NULL;
COMMENT ON TABLE director_assignments IS 'Regie: who directed which plan when; a handover ends one row and starts the next in one transaction.';
COMMENT ON COLUMN director_assignments.id IS 'Assignment id (UUID v7).';
COMMENT ON COLUMN director_assignments.plan_id IS 'The plan.';
COMMENT ON COLUMN director_assignments.user_id IS 'The director (procesregisseur).';
COMMENT ON COLUMN director_assignments.started_at IS 'Start of the assignment.';
COMMENT ON COLUMN director_assignments.ended_at IS 'End of the assignment (exclusive); null for the current director.';
COMMENT ON COLUMN director_assignments.assigned_by IS 'Who made the assignment (team lead or the previous director).';
COMMENT ON COLUMN director_assignments.reason IS 'Why the assignment was made.';

-- A plan is active exactly when it has a current director. Checked at commit
-- (deferred), because a handover or the first assignment changes both tables.
CREATE FUNCTION check_plan_director_state(p_plan_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_has_current boolean;
BEGIN
    SELECT status INTO v_status FROM plans WHERE id = p_plan_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_has_current := EXISTS (SELECT 1 FROM director_assignments WHERE plan_id = p_plan_id AND ended_at IS NULL);
    IF (v_status = 'active') <> v_has_current THEN
        RAISE EXCEPTION 'plan % has status % but % current director', p_plan_id, v_status,
            CASE WHEN v_has_current THEN 'a' ELSE 'no' END
            USING ERRCODE = 'check_violation', CONSTRAINT = 'plans_active_iff_director';
    END IF;
END $$;

CREATE FUNCTION plans_director_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_plan_director_state(NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION director_assignments_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM check_plan_director_state(OLD.plan_id);
    ELSE
        PERFORM check_plan_director_state(NEW.plan_id);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER plans_active_iff_director
    AFTER INSERT OR UPDATE OF status ON plans
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION plans_director_state_trigger();

CREATE CONSTRAINT TRIGGER director_assignments_active_iff_director
    AFTER INSERT OR UPDATE OR DELETE ON director_assignments
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION director_assignments_state_trigger();

-- ---------------------------------------------------------------- audit
CREATE TABLE audit_events (
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_type         text NOT NULL CHECK (actor_type IN ('user', 'client', 'system', 'anonymous')),
    actor_id           uuid,
    actor_role         text,
    on_behalf_of       text,
    purpose            text NOT NULL,
    municipality_code  text,
    action             text NOT NULL,
    resource_type      text NOT NULL,
    resource_id        text,
    family_id          uuid,
    outcome            text NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    emergency_access   boolean NOT NULL DEFAULT false,
    request_id         text,
    ip                 text,
    detail             jsonb NOT NULL DEFAULT '{}'
);
-- No foreign keys on purpose: the trail must outlive anonymised families and
-- record attempts on ids that do not exist.
CREATE INDEX audit_events_municipality_time ON audit_events (municipality_code, occurred_at);
CREATE INDEX audit_events_family ON audit_events (family_id, seq) WHERE family_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
COMMENT ON TABLE audit_events IS 'Append-only audit trail after NEN 7513: who did what to whose data, when, why and with what result.';
COMMENT ON COLUMN audit_events.seq IS 'Monotonic sequence number; the order of the trail.';
COMMENT ON COLUMN audit_events.occurred_at IS 'When the action happened.';
COMMENT ON COLUMN audit_events.actor_type IS 'user, client (machine), system, or anonymous (failed login of an unknown name).';
COMMENT ON COLUMN audit_events.actor_id IS 'Id of the user or client.';
COMMENT ON COLUMN audit_events.actor_role IS 'Role of the actor at the time.';
COMMENT ON COLUMN audit_events.on_behalf_of IS 'Organisation or person the actor acted for, when not itself.';
COMMENT ON COLUMN audit_events.purpose IS 'Purpose of the processing (NEN 7513), e.g. care_coordination, administration, authentication.';
COMMENT ON COLUMN audit_events.municipality_code IS 'Municipality whose data was touched (or of the actor, when none).';
COMMENT ON COLUMN audit_events.action IS 'read, search, create, update, handover, close, login, login_failed, access_denied, ...';
COMMENT ON COLUMN audit_events.resource_type IS 'Kind of resource: family, plan, user, team, session, ...';
COMMENT ON COLUMN audit_events.resource_id IS 'Id of the resource, as given.';
COMMENT ON COLUMN audit_events.family_id IS 'Family whose personal data was involved (NEN 7513: about whom).';
COMMENT ON COLUMN audit_events.outcome IS 'success, denied or error.';
COMMENT ON COLUMN audit_events.emergency_access IS 'Access granted by breaking the glass (X-Access-Reason).';
COMMENT ON COLUMN audit_events.request_id IS 'X-Request-Id of the request, to join with logs.';
COMMENT ON COLUMN audit_events.ip IS 'Client address as seen by the server.';
COMMENT ON COLUMN audit_events.detail IS 'Action-specific detail; never BSNs, passwords or tokens.';

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
