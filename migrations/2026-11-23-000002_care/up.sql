-- Care around the plan: providers, involvements, scaling history, signals.
-- Invariant 4 of DESIGN section 3 lives here: a plan's level and protection
-- measure always equal what its active involvements give, and the last
-- scaling event of a plan always ends at that level. Both are checked at
-- commit by a deferred trigger, so no code path can move a level silently.

-- ---------------------------------------------------------------- providers
CREATE TABLE providers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    agb_code    text NOT NULL CHECK (agb_code ~ '^[0-9]{8}$'),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX providers_agb_code_key ON providers (agb_code);
COMMENT ON TABLE providers IS 'Zorgaanbieders: care organisations, identified by their AGB code.';
COMMENT ON COLUMN providers.id IS 'Provider id (UUID v7).';
COMMENT ON COLUMN providers.name IS 'Name of the organisation.';
COMMENT ON COLUMN providers.agb_code IS '8-digit AGB code (Vektis), unique.';
COMMENT ON COLUMN providers.active IS 'False: no new involvements; existing ones stay as history.';
COMMENT ON COLUMN providers.created_at IS 'When the provider was registered.';
COMMENT ON COLUMN providers.updated_at IS 'When the provider was last changed.';

ALTER TABLE users ADD COLUMN provider_id uuid REFERENCES providers (id);
ALTER TABLE users ADD CONSTRAINT users_provider_iff_provider_user
    CHECK ((role = 'provider_user') = (provider_id IS NOT NULL));
CREATE INDEX users_provider ON users (provider_id) WHERE provider_id IS NOT NULL;
COMMENT ON COLUMN users.provider_id IS 'Provider a provider_user works for; null for every other role.';

-- ---------------------------------------------------------------- plan state
ALTER TABLE plans ADD COLUMN level smallint NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 7);
ALTER TABLE plans ADD COLUMN protection_measure boolean NOT NULL DEFAULT false;
ALTER TABLE plans ADD CONSTRAINT plans_id_family UNIQUE (id, family_id);
-- The periodic signal refresh finds intakes growing old through this.
CREATE INDEX plans_intake_since ON plans (created_at) WHERE status = 'intake';
COMMENT ON COLUMN plans.level IS 'Care level: the highest level among active involvements, 0 without any (derived; checked at commit).';
COMMENT ON COLUMN plans.protection_measure IS 'Whether an active safety involvement (child protection, juvenile probation) exists (derived; checked at commit).';

ALTER TABLE family_members ADD CONSTRAINT family_members_id_family UNIQUE (id, family_id);

-- ---------------------------------------------------------------- involvements
CREATE TABLE involvements (
    id                uuid PRIMARY KEY,
    plan_id           uuid NOT NULL,
    family_id         uuid NOT NULL,
    provider_id       uuid NOT NULL REFERENCES providers (id),
    care_form_code    text NOT NULL CHECK (care_form_code ~ '^[a-z0-9_]{1,64}$'),
    segment           text NOT NULL CHECK (segment IN ('local_team', 'school', 'ambulant', 'day_care', 'housing', 'residential', 'crisis', 'safety')),
    level             smallint CHECK (level BETWEEN 1 AND 7),
    product_category  text NOT NULL CHECK (product_category ~ '^[0-9]{2}$'),
    member_id         uuid,
    status            text NOT NULL CHECK (status IN ('requested', 'active', 'ended')),
    requested_on      date NOT NULL,
    started_on        date,
    ended_on          date,
    end_reason        text CHECK (end_reason IN ('completed', 'stopped_by_client', 'stopped_by_provider', 'stopped_by_agreement', 'stopped_external', 'transferred', 'other_domain', 'other')),
    reason            text CHECK (length(reason) <= 2000),
    end_note          text CHECK (length(end_note) <= 2000),
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (plan_id, family_id) REFERENCES plans (id, family_id),
    -- An involvement for one child names a member of the plan's own family.
    FOREIGN KEY (member_id, family_id) REFERENCES family_members (id, family_id),
    CONSTRAINT involvements_level_by_segment CHECK ((segment = 'safety') = (level IS NULL)),
    CONSTRAINT involvements_requested CHECK (status <> 'requested' OR (started_on IS NULL AND ended_on IS NULL AND end_reason IS NULL)),
    CONSTRAINT involvements_active CHECK (status <> 'active' OR (started_on IS NOT NULL AND ended_on IS NULL AND end_reason IS NULL)),
    CONSTRAINT involvements_ended CHECK (status <> 'ended' OR (ended_on IS NOT NULL AND end_reason IS NOT NULL)),
    CONSTRAINT involvements_started_after_request CHECK (started_on IS NULL OR started_on >= requested_on),
    CONSTRAINT involvements_ended_after_start CHECK (ended_on IS NULL OR ended_on >= coalesce(started_on, requested_on))
);
-- One provider delivers one care form to one person (or the whole family)
-- once at a time within a plan: a retried request cannot double it.
CREATE UNIQUE INDEX involvements_once_at_a_time
    ON involvements (plan_id, provider_id, care_form_code, coalesce(member_id, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE status <> 'ended';
CREATE INDEX involvements_plan ON involvements (plan_id, id);
CREATE INDEX involvements_provider_open ON involvements (provider_id, plan_id) WHERE status <> 'ended';
CREATE INDEX involvements_waiting ON involvements (requested_on) WHERE status = 'requested';
COMMENT ON TABLE involvements IS 'Inzet: one provider delivering one care form within a plan, for the whole family or one child.';
COMMENT ON COLUMN involvements.id IS 'Involvement id (UUID v7).';
COMMENT ON COLUMN involvements.plan_id IS 'The plan.';
COMMENT ON COLUMN involvements.family_id IS 'The plan''s family (kept equal by the composite foreign key; ties member_id to it).';
COMMENT ON COLUMN involvements.provider_id IS 'The provider delivering the care.';
COMMENT ON COLUMN involvements.care_form_code IS 'Care form code from the regional catalogue in config/.';
COMMENT ON COLUMN involvements.segment IS 'Segment of the care form when the involvement was created (the catalogue may change later).';
COMMENT ON COLUMN involvements.level IS 'Intensity level of the segment, 1 (local team) to 7 (crisis); null for safety.';
COMMENT ON COLUMN involvements.product_category IS 'iJw product category (JZ020) of the care form, e.g. 45 jeugdhulp ambulant.';
COMMENT ON COLUMN involvements.member_id IS 'The child (or other member) the care is for; null for the whole family.';
COMMENT ON COLUMN involvements.status IS 'requested, active or ended.';
COMMENT ON COLUMN involvements.requested_on IS 'Day the care was requested; waiting time runs from here.';
COMMENT ON COLUMN involvements.started_on IS 'First day of care.';
COMMENT ON COLUMN involvements.ended_on IS 'Last day of care (or of the request, when it never started).';
COMMENT ON COLUMN involvements.end_reason IS 'Why care ended, after iJw JZ588: completed (31), stopped_by_client (32), stopped_by_provider (33), stopped_by_agreement (34), stopped_external (35), transferred (38), other_domain (39), other.';
COMMENT ON COLUMN involvements.reason IS 'Why the care was requested or started (visible to the provider itself and the JGT).';
COMMENT ON COLUMN involvements.end_note IS 'Free-text note given when the care ended.';
COMMENT ON COLUMN involvements.created_by IS 'Who registered the involvement.';
COMMENT ON COLUMN involvements.created_at IS 'When the involvement was registered.';
COMMENT ON COLUMN involvements.updated_at IS 'When the involvement was last changed.';

-- ---------------------------------------------------------------- scaling
CREATE TABLE scaling_events (
    id               uuid PRIMARY KEY,
    plan_id          uuid NOT NULL REFERENCES plans (id),
    occurred_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_level       smallint NOT NULL CHECK (from_level BETWEEN 0 AND 7),
    to_level         smallint NOT NULL CHECK (to_level BETWEEN 0 AND 7),
    direction        text NOT NULL CHECK (direction IN ('up', 'down')),
    reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    decided_by       uuid REFERENCES users (id),
    involvement_ids  uuid[] NOT NULL,
    CONSTRAINT scaling_events_direction CHECK ((direction = 'up') = (to_level > from_level) AND from_level <> to_level)
);
CREATE INDEX scaling_events_plan ON scaling_events (plan_id, occurred_at, id);
COMMENT ON TABLE scaling_events IS 'Op- en afschalen: every change of a plan''s care level, with why and by whom.';
COMMENT ON COLUMN scaling_events.id IS 'Scaling event id (UUID v7, so ids order like time).';
COMMENT ON COLUMN scaling_events.plan_id IS 'The plan.';
COMMENT ON COLUMN scaling_events.occurred_at IS 'When the level changed.';
COMMENT ON COLUMN scaling_events.from_level IS 'Level before the change.';
COMMENT ON COLUMN scaling_events.to_level IS 'Level after the change; equals the plan''s level while this is its latest event.';
COMMENT ON COLUMN scaling_events.direction IS 'up or down.';
COMMENT ON COLUMN scaling_events.reason IS 'Why the level changed.';
COMMENT ON COLUMN scaling_events.decided_by IS 'Who made the change (director, team lead or provider user).';
COMMENT ON COLUMN scaling_events.involvement_ids IS 'Involvements started or ended by the change.';

-- The plan's level, protection measure and latest scaling event agree with
-- its involvements. Deferred to commit: a step changes several rows.
CREATE FUNCTION check_plan_care_state(p_plan_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_level smallint;
    v_protection boolean;
    v_derived_level smallint;
    v_derived_protection boolean;
    v_last_to smallint;
BEGIN
    SELECT level, protection_measure INTO v_level, v_protection FROM plans WHERE id = p_plan_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(max(level), 0), coalesce(bool_or(segment = 'safety'), false)
      INTO v_derived_level, v_derived_protection
      FROM involvements WHERE plan_id = p_plan_id AND status = 'active';
    SELECT to_level INTO v_last_to FROM scaling_events
     WHERE plan_id = p_plan_id ORDER BY occurred_at DESC, id DESC LIMIT 1;
    IF v_level <> v_derived_level OR v_protection <> v_derived_protection
       OR v_level <> coalesce(v_last_to, 0) THEN
        RAISE EXCEPTION 'plan % has level % (protection %), involvements give % (%), last scaling event %',
            p_plan_id, v_level, v_protection, v_derived_level, v_derived_protection, v_last_to
            USING ERRCODE = 'check_violation', CONSTRAINT = 'plans_level_derived';
    END IF;
END $$;

CREATE FUNCTION plans_care_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_plan_care_state(NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION plan_children_care_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM check_plan_care_state(OLD.plan_id);
    ELSE
        PERFORM check_plan_care_state(NEW.plan_id);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER plans_level_derived
    AFTER UPDATE OF level, protection_measure ON plans
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION plans_care_state_trigger();

CREATE CONSTRAINT TRIGGER involvements_level_derived
    AFTER INSERT OR UPDATE OF status, level, segment OR DELETE ON involvements
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION plan_children_care_state_trigger();

CREATE CONSTRAINT TRIGGER scaling_events_level_derived
    AFTER INSERT OR UPDATE OR DELETE ON scaling_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION plan_children_care_state_trigger();

-- A closed plan has no care running.
CREATE FUNCTION check_closed_plan_without_care() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'closed' AND EXISTS (
        SELECT 1 FROM involvements WHERE plan_id = NEW.id AND status <> 'ended') THEN
        RAISE EXCEPTION 'plan % is closed with involvements still running', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'plans_closed_without_care';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER plans_closed_without_care
    AFTER UPDATE OF status ON plans
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION check_closed_plan_without_care();

-- ---------------------------------------------------------------- signals
CREATE TABLE plan_signals (
    plan_id            uuid NOT NULL REFERENCES plans (id),
    code               text NOT NULL CHECK (code IN ('many_providers', 'parallel_same_segment', 'multiple_segments', 'yo_yo', 'long_wait', 'intake_without_director')),
    family_id          uuid NOT NULL,
    municipality_code  text NOT NULL,
    status             text NOT NULL CHECK (status IN ('open', 'acknowledged')),
    facts              text NOT NULL,
    detail             jsonb NOT NULL DEFAULT '{}',
    raised_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at    timestamptz,
    acknowledged_by    uuid REFERENCES users (id),
    note               text CHECK (length(note) <= 2000),
    PRIMARY KEY (plan_id, code),
    FOREIGN KEY (plan_id, family_id) REFERENCES plans (id, family_id),
    CONSTRAINT plan_signals_acknowledged CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL AND note IS NOT NULL))
);
-- The family list filtered by signal walks this index in family order, so
-- the first page costs the same with a thousand families or a million.
CREATE INDEX plan_signals_by_municipality ON plan_signals (municipality_code, code, family_id);
COMMENT ON TABLE plan_signals IS 'Signals (stacked care and other warnings) that hold now for open plans; recomputed in the transaction that changes their facts.';
COMMENT ON COLUMN plan_signals.plan_id IS 'The plan.';
COMMENT ON COLUMN plan_signals.code IS 'many_providers, parallel_same_segment, multiple_segments, yo_yo, long_wait, intake_without_director.';
COMMENT ON COLUMN plan_signals.family_id IS 'The plan''s family (for the family list filter).';
COMMENT ON COLUMN plan_signals.municipality_code IS 'The plan''s municipality (for the family list filter).';
COMMENT ON COLUMN plan_signals.status IS 'open, or acknowledged by the director as deliberate.';
COMMENT ON COLUMN plan_signals.facts IS 'Canonical fingerprint of the facts behind the signal; when it changes an acknowledged signal re-opens.';
COMMENT ON COLUMN plan_signals.detail IS 'What the signal is about (providers, segments, involvements, counts), for display.';
COMMENT ON COLUMN plan_signals.raised_at IS 'When the signal was (re-)opened.';
COMMENT ON COLUMN plan_signals.acknowledged_at IS 'When the director acknowledged it.';
COMMENT ON COLUMN plan_signals.acknowledged_by IS 'Who acknowledged it.';
COMMENT ON COLUMN plan_signals.note IS 'Why the situation is deliberate.';
