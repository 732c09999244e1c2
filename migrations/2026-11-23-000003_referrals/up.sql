-- Referrals: machine clients (GP, youth doctor and GI systems), referrals
-- pulled into the family's one plan, idempotency keys, and the transactional
-- outbox of signed status notifications with its delivery attempts.

-- ---------------------------------------------------------------- clients
CREATE TABLE clients (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    referrer_type      text NOT NULL CHECK (referrer_type IN ('01', '02', '03', '04', '05', '06', '08')),
    agb_code           text CHECK (agb_code ~ '^[0-9]{8}$'),
    organisation_name  text NOT NULL CHECK (length(organisation_name) BETWEEN 1 AND 200),
    scopes             text[] NOT NULL CHECK (cardinality(scopes) >= 1 AND scopes <@ ARRAY['referrals:write', 'referrals:read']),
    callback_url       text CHECK (length(callback_url) BETWEEN 1 AND 2000),
    secret_hash        text NOT NULL,
    callback_secret    bytea NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    created_by         uuid REFERENCES users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- iJw CD067: only GPs, youth doctors, GIs and medical specialists refer with an AGB code.
    CONSTRAINT clients_agb_for_type CHECK (agb_code IS NULL OR referrer_type IN ('02', '03', '04', '05'))
);
CREATE UNIQUE INDEX clients_name_key ON clients (lower(name));
COMMENT ON TABLE clients IS 'Machine clients (GP, youth doctor, GI systems) that submit referrals with the OAuth client-credentials grant.';
COMMENT ON COLUMN clients.id IS 'Client id (UUID v7), the OAuth client_id.';
COMMENT ON COLUMN clients.name IS 'Name of the integration, unique case-insensitively.';
COMMENT ON COLUMN clients.referrer_type IS 'iJw referrer type (COD327) the client refers as: 01..06 or 08.';
COMMENT ON COLUMN clients.agb_code IS 'AGB code the client refers as (8 digits); only for referrer types 02..05.';
COMMENT ON COLUMN clients.organisation_name IS 'Organisation behind the client (the practice, the GI).';
COMMENT ON COLUMN clients.scopes IS 'Scopes the client may ask for: referrals:write, referrals:read.';
COMMENT ON COLUMN clients.callback_url IS 'Where status notifications are POSTed; none when null.';
COMMENT ON COLUMN clients.secret_hash IS 'argon2id PHC string of the client secret; never the secret.';
COMMENT ON COLUMN clients.callback_secret IS 'Notification signing secret, AES-256-GCM encrypted (nonce || ciphertext || tag).';
COMMENT ON COLUMN clients.active IS 'False refuses new tokens and ends the use of issued ones at once.';
COMMENT ON COLUMN clients.created_by IS 'Admin who registered the client.';
COMMENT ON COLUMN clients.created_at IS 'When the client was registered.';
COMMENT ON COLUMN clients.updated_at IS 'When the client was last changed.';

CREATE TABLE client_municipalities (
    client_id          uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    municipality_code  text NOT NULL REFERENCES municipalities (code),
    PRIMARY KEY (client_id, municipality_code)
);
COMMENT ON TABLE client_municipalities IS 'Municipalities a client may refer families to.';
COMMENT ON COLUMN client_municipalities.client_id IS 'The client.';
COMMENT ON COLUMN client_municipalities.municipality_code IS 'A municipality the client serves.';

-- ---------------------------------------------------------------- referrals
CREATE TABLE referrals (
    id                           uuid PRIMARY KEY,
    municipality_code            text NOT NULL REFERENCES municipalities (code),
    client_id                    uuid REFERENCES clients (id),
    submitted_by                 uuid REFERENCES users (id),
    external_reference           text NOT NULL CHECK (length(external_reference) BETWEEN 1 AND 100),
    referrer_type                text NOT NULL CHECK (referrer_type IN ('01', '02', '03', '04', '05', '06', '08')),
    referrer_agb_code            text CHECK (referrer_agb_code ~ '^[0-9]{8}$'),
    referrer_name                text CHECK (length(referrer_name) BETWEEN 1 AND 200),
    reason                       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 4000),
    urgency                      text NOT NULL CHECK (urgency IN ('regular', 'urgent')),
    requested_care_form_code     text CHECK (length(requested_care_form_code) BETWEEN 1 AND 50),
    requested_provider_agb_code  text CHECK (requested_provider_agb_code ~ '^[0-9]{8}$'),
    requested_provider_id        uuid REFERENCES providers (id),
    status                       text NOT NULL CHECK (status IN ('received', 'needs_review', 'matched', 'accepted', 'declined')),
    match_basis                  text CHECK (match_basis IN ('bsn', 'new_family', 'name_and_birth_date', 'bsn_in_other_municipality', 'chosen_by_team_lead')),
    family_id                    uuid,
    plan_id                      uuid,
    involvement_id               uuid REFERENCES involvements (id),
    involvement_created          boolean NOT NULL DEFAULT false,
    candidate_family_ids         uuid[] NOT NULL DEFAULT '{}',
    decline_reason_code          text CHECK (decline_reason_code IN ('5', '6', '7', '8', 'duplicate', 'other')),
    decline_note                 text CHECK (length(decline_note) BETWEEN 1 AND 2000),
    decided_by                   uuid REFERENCES users (id),
    decided_at                   timestamptz,
    received_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    -- A referral lands in a family of its own municipality, in that family's plan.
    FOREIGN KEY (family_id, municipality_code) REFERENCES families (id, municipality_code),
    FOREIGN KEY (plan_id, family_id) REFERENCES plans (id, family_id),
    CONSTRAINT referrals_one_submitter CHECK ((client_id IS NULL) <> (submitted_by IS NULL)),
    -- iJw CD066-CD068: types 02..05 name the referrer by exactly one of AGB code or name; others carry no AGB code.
    CONSTRAINT referrals_referrer_ijw CHECK (
        CASE WHEN referrer_type IN ('02', '03', '04', '05')
             THEN (referrer_agb_code IS NULL) <> (referrer_name IS NULL)
             ELSE referrer_agb_code IS NULL END),
    CONSTRAINT referrals_in_a_plan CHECK (status NOT IN ('matched', 'accepted') OR (family_id IS NOT NULL AND plan_id IS NOT NULL)),
    CONSTRAINT referrals_declined_reason CHECK ((status = 'declined') = (decline_reason_code IS NOT NULL)),
    CONSTRAINT referrals_decided CHECK ((status IN ('accepted', 'declined')) = (decided_at IS NOT NULL))
);
CREATE INDEX referrals_queue ON referrals (municipality_code, status, received_at, id);
CREATE INDEX referrals_client ON referrals (client_id, received_at, id) WHERE client_id IS NOT NULL;
CREATE INDEX referrals_submitter ON referrals (submitted_by, received_at, id) WHERE submitted_by IS NOT NULL;
CREATE INDEX referrals_plan ON referrals (plan_id) WHERE plan_id IS NOT NULL;
COMMENT ON TABLE referrals IS 'Verwijzingen from GPs, GIs and the JGT; each lands in the family''s one plan or waits for review.';
COMMENT ON COLUMN referrals.id IS 'Referral id (UUID v7).';
COMMENT ON COLUMN referrals.municipality_code IS 'Municipality the referral is addressed to (tenant).';
COMMENT ON COLUMN referrals.client_id IS 'Machine client that submitted it; null when a user did.';
COMMENT ON COLUMN referrals.submitted_by IS 'User (JGT or GI worker) that submitted it; null when a client did.';
COMMENT ON COLUMN referrals.external_reference IS 'The referrer''s own reference.';
COMMENT ON COLUMN referrals.referrer_type IS 'iJw referrer type (COD327).';
COMMENT ON COLUMN referrals.referrer_agb_code IS 'AGB code of the referrer (iJw CD066-CD068).';
COMMENT ON COLUMN referrals.referrer_name IS 'Name of the referrer when it has no AGB code.';
COMMENT ON COLUMN referrals.reason IS 'Why help is asked (personal data).';
COMMENT ON COLUMN referrals.urgency IS 'regular or urgent.';
COMMENT ON COLUMN referrals.requested_care_form_code IS 'Care form the referrer asks for, a code of the catalogue.';
COMMENT ON COLUMN referrals.requested_provider_agb_code IS 'AGB code of the provider the referrer asks for.';
COMMENT ON COLUMN referrals.requested_provider_id IS 'That provider, when it is registered.';
COMMENT ON COLUMN referrals.status IS 'received, needs_review, matched, accepted or declined.';
COMMENT ON COLUMN referrals.match_basis IS 'How the family was found: bsn, new_family, name_and_birth_date (review), bsn_in_other_municipality (review), chosen_by_team_lead.';
COMMENT ON COLUMN referrals.family_id IS 'The family the referral landed in.';
COMMENT ON COLUMN referrals.plan_id IS 'The plan the referral landed in (the family''s open plan at the time).';
COMMENT ON COLUMN referrals.involvement_id IS 'The requested involvement made from the requested provider and care form.';
COMMENT ON COLUMN referrals.involvement_created IS 'Whether this referral created the involvement (a decline then withdraws it) or linked one already requested.';
COMMENT ON COLUMN referrals.candidate_family_ids IS 'Families with a child of the same name and birth date, for review; never merged automatically.';
COMMENT ON COLUMN referrals.decline_reason_code IS 'Why it was declined: iJw WJ759 code 5, 6, 7 or 8, or duplicate or other where WJ759 has no fitting code.';
COMMENT ON COLUMN referrals.decline_note IS 'Team lead''s note with a decline.';
COMMENT ON COLUMN referrals.decided_by IS 'Team lead who accepted or declined.';
COMMENT ON COLUMN referrals.decided_at IS 'When it was accepted or declined.';
COMMENT ON COLUMN referrals.received_at IS 'When the referral arrived.';
COMMENT ON COLUMN referrals.updated_at IS 'When the status last changed.';

CREATE TABLE referral_people (
    referral_id     uuid NOT NULL REFERENCES referrals (id),
    position        smallint NOT NULL CHECK (position BETWEEN 0 AND 30),
    role            text NOT NULL CHECK (role IN ('child', 'parent')),
    given_name      text NOT NULL CHECK (length(given_name) BETWEEN 1 AND 200),
    family_name     text NOT NULL CHECK (length(family_name) BETWEEN 1 AND 200),
    birth_date      date NOT NULL CHECK (birth_date >= DATE '1900-01-01'),
    bsn_ciphertext  bytea,
    bsn_hash        bytea,
    PRIMARY KEY (referral_id, position),
    CONSTRAINT referral_people_child_first CHECK ((position = 0) = (role = 'child')),
    CONSTRAINT referral_people_bsn_pair CHECK ((bsn_ciphertext IS NULL) = (bsn_hash IS NULL))
);
COMMENT ON TABLE referral_people IS 'The child (position 0) and parents named in a referral, kept until the family is known.';
COMMENT ON COLUMN referral_people.referral_id IS 'The referral.';
COMMENT ON COLUMN referral_people.position IS '0 for the child, 1.. for the parents in the order given.';
COMMENT ON COLUMN referral_people.role IS 'child or parent.';
COMMENT ON COLUMN referral_people.given_name IS 'Given name (personal data).';
COMMENT ON COLUMN referral_people.family_name IS 'Family name (personal data).';
COMMENT ON COLUMN referral_people.birth_date IS 'Date of birth (personal data).';
COMMENT ON COLUMN referral_people.bsn_ciphertext IS 'BSN encrypted like family_members.bsn_ciphertext.';
COMMENT ON COLUMN referral_people.bsn_hash IS 'Keyed hash of the BSN, like family_members.bsn_hash.';

-- ---------------------------------------------------------------- idempotency
CREATE TABLE idempotency_keys (
    principal_id     uuid NOT NULL,
    operation        text NOT NULL,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash     bytea NOT NULL,
    response_status  smallint NOT NULL CHECK (response_status BETWEEN 200 AND 299),
    response_body    jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, operation, key)
);
COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key of every successful request that takes one, with its response, so a retry gets the same answer and nothing twice.';
COMMENT ON COLUMN idempotency_keys.principal_id IS 'Client or user that sent the key; keys of different callers never meet.';
COMMENT ON COLUMN idempotency_keys.operation IS 'Operation the key was used for, e.g. createReferral.';
COMMENT ON COLUMN idempotency_keys.key IS 'The Idempotency-Key header as sent.';
COMMENT ON COLUMN idempotency_keys.request_hash IS 'SHA-256 of the canonical request body; another body under the same key is refused.';
COMMENT ON COLUMN idempotency_keys.response_status IS 'HTTP status of the original response.';
COMMENT ON COLUMN idempotency_keys.response_body IS 'Body of the original response, replayed for retries (status and dates only for clients).';
COMMENT ON COLUMN idempotency_keys.created_at IS 'When the key was first used.';

-- ---------------------------------------------------------------- notifications (outbox)
CREATE TABLE notifications (
    id               uuid PRIMARY KEY,
    client_id        uuid NOT NULL REFERENCES clients (id),
    referral_id      uuid NOT NULL REFERENCES referrals (id),
    event_type       text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT notifications_delivered CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_client ON notifications (client_id, id);
COMMENT ON TABLE notifications IS 'Transactional outbox: a status notification is written with the change it reports and delivered by the server''s worker with retries.';
COMMENT ON COLUMN notifications.id IS 'Notification id (UUID v7), sent as webhook-id so receivers can drop duplicates.';
COMMENT ON COLUMN notifications.client_id IS 'Client to notify (at its callback URL at delivery time).';
COMMENT ON COLUMN notifications.referral_id IS 'The referral whose status changed.';
COMMENT ON COLUMN notifications.event_type IS 'Kind of event, e.g. referral.status_changed.';
COMMENT ON COLUMN notifications.body IS 'The exact JSON body that is signed and sent; status and dates only.';
COMMENT ON COLUMN notifications.status IS 'pending (to deliver or retry), delivered, or failed (attempts exhausted).';
COMMENT ON COLUMN notifications.attempts IS 'Delivery attempts started so far.';
COMMENT ON COLUMN notifications.next_attempt_at IS 'Not delivered before this time (exponential backoff).';
COMMENT ON COLUMN notifications.lease_until IS 'A worker is delivering it until then; after that another may retry.';
COMMENT ON COLUMN notifications.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN notifications.created_at IS 'When the status change happened.';
COMMENT ON COLUMN notifications.delivered_at IS 'When the receiver accepted it (2xx).';

CREATE TABLE notification_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    attempt          integer NOT NULL CHECK (attempt >= 1),
    attempted_at     timestamptz NOT NULL,
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    status_code      smallint,
    error            text,
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    UNIQUE (notification_id, attempt)
);
COMMENT ON TABLE notification_attempts IS 'Every delivery attempt of a notification, for admins to see what the receiver answered.';
COMMENT ON COLUMN notification_attempts.id IS 'Attempt sequence number.';
COMMENT ON COLUMN notification_attempts.notification_id IS 'The notification.';
COMMENT ON COLUMN notification_attempts.attempt IS '1 for the first attempt, and so on.';
COMMENT ON COLUMN notification_attempts.attempted_at IS 'When the request was sent.';
COMMENT ON COLUMN notification_attempts.duration_ms IS 'How long the receiver took to answer (or to fail).';
COMMENT ON COLUMN notification_attempts.status_code IS 'HTTP status the receiver answered; null when there was no answer.';
COMMENT ON COLUMN notification_attempts.error IS 'Transport error or non-2xx status, in words.';
COMMENT ON COLUMN notification_attempts.outcome IS 'delivered (2xx) or failed.';

-- Matching a referral without a BSN looks for a child of the same name and
-- birth date in the municipality.
CREATE INDEX family_members_child_birth_name
    ON family_members (birth_date, lower(family_name)) WHERE role = 'child' AND ended_on IS NULL;
